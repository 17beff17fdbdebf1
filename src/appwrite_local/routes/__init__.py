"""One module per Appwrite service; each exposes `routes: RouteTable`."""
