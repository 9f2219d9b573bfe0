"""What the market is: the seven collections, declared; the machine is in app.resources."""
