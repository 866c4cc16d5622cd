"""Workspace networking (`corral.drivers.network.base.Network`)."""
