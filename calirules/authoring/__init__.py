"""Rule-author tooling: lint, inline rule tests, the remediation matrix and the command checks they use.

Above reports (lint renders reports for every install variant), below the CLI.
"""
