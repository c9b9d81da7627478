"""The scheduler's pages: server-rendered, every asset served from here (works offline)."""
