"""What the four probes share beyond running a Check (probes._plugin): threshold ranges,
argument types, contexts and the way results are said."""
