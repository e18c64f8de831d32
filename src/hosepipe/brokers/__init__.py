"""What the broker integrations (``hosepipe.redis``, ``hosepipe.nats``, ``hosepipe.amqp``)
share: the message type, and when a delivered message is acknowledged (``_ack``)."""
