"""The published contracts of each service's RPC interface: marshmallow schemas for what goes in and
what comes out. The owning service loads with them; the gateway documents its HTTP API with them
(OpenAPI), so the two never drift apart."""
