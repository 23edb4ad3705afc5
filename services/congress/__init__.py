"""The congress service: workers' congresses (职代会), terms, delegates, sessions, check-in, resolutions."""
