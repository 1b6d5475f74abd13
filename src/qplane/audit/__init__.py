"""Audit: every state change and denial, recorded in hash chains that expose tampering."""
