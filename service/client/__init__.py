"""The ``depot`` client: an httpx API client plus the rich terminal commands built on it.

Kept apart from the server code: it imports nothing of ``service.api`` or ``service.storage``,
so it talks to any Depot over HTTP exactly as scripts and other tools do."""
