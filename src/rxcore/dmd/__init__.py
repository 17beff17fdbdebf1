"""NHS dm+d: release archives, a streaming parser, the catalogue builder and the sync into Appwrite tables."""
