"""IonQ: JSON serialization, HTTP client, backend, and a local IonQ-compatible server."""
