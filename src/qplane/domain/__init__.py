"""The domain core: plain types and rules of qplane, with no I/O and no framework.

Everything here imports only the standard library, so the rules can be read,
tested and reasoned about without a database, an HTTP server or Qiskit.
"""
