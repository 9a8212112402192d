"""The doors clients come in by, one package per API dialect."""
