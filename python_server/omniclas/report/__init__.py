"""What a run leaves behind: the run folder's manifest and weights, its markdown and HTML reports, and the
evaluation measures they quote."""
