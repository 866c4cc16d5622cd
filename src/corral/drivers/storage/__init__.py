"""Root filesystems and files of workspaces (`corral.drivers.storage.base.Storage`)."""
