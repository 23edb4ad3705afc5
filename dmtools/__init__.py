"""Operator tools (the ``dm`` command): wait for the services, load the demo data, import member files,
generate test member files. They talk to the services over RabbitMQ or HTTP like any client."""
