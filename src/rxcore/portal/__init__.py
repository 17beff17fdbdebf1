"""patient-portal: patients reading their own prescriptions (access, rate limits, the six actions)."""
