"""patient-import: spreadsheets of patients into a clinic (reader → validate → service)."""
