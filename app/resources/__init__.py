"""The one machine every collection shares: spec, routes, service, cursors."""
