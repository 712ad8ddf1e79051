"""The AsterDEX adapter: async REST client, request signing and WebSocket streams."""
