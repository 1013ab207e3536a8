"""Running calirules on every node of a Kubernetes cluster: the manifests (a DaemonSet agent, a
same-node network check Job, their ServiceAccounts) and the agent's loop. Kubernetes schedules,
restarts and collects the logs; `calirules fleet` reads those logs as a fleet."""
