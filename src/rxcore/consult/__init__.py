"""Online consultations: doctors' slots, booking with a payment hold, the appointment lifecycle, and chat."""
