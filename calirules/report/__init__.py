"""Reports: findings and their context (build) and the text, JSON, markdown and HTML layouts (render).

Above the engine and collection, below rule-author tooling and the CLI.
"""
