"""`haf` command line: the top layer, above the twin, the xApp and the rApp."""
