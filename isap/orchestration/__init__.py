"""The orchestration layer: Prefect flows over the review service, dispatch to them, and child processes.
"""
