"""SQL implementations of the ports in `qplane.domain.ports`, one module per aggregate.

Each repository is bound to the session of one unit of work and returns
only frozen domain objects: no ORM row leaves this package.
"""
