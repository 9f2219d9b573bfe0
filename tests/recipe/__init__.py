"""A collection the project does not have, declared as the README's recipe says (a module
as in app/market/, one line of registration, one table), to prove the machine serves it."""
