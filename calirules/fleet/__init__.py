"""The fleet view: many nodes' diagnoses side by side, and what only comparing them shows.

inputs (PATHs -> jobs and saved reports), reports (saved report JSON and DaemonSet logs), worker
(one node's diagnosis in a pool process), pool (runs the jobs on every core), progress (the TTY
bar), findings (cross-node findings), document (the calirules/fleet/v1 document), render (its
layouts), cli (`calirules fleet`). Above calirules.report, below calirules.cli.
"""
