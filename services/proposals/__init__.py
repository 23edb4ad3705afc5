"""The proposals service (提案): see service.py."""
