"""Webhooks: an organisation's own systems are called when something happens to its
documents and signature requests, signed as Standard Webhooks prescribes.

- `events`: every event type (`events.EventType`), its payload, and its builder.
- `emitting`: `emitting.emit` queues an event, in the transaction of the change it
  reports, as one outbox row per endpoint that wants it, the body fixed then.
- `endpoints`: register, list, change, turn off and on, remove an endpoint.
- `deliveries`: list and retry deliveries; how an attempt settles its row, and when an
  endpoint that keeps failing is turned off.
- `signing` and `addresses`: the headers of an attempt, and where it may connect.

The worker that sends is an adapter (``bot.webhooks``); this package sends nothing. It
imports nothing here, so that the outbox itself may report deliveries given up.
"""
