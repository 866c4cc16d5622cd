"""Container runtimes behind one interface (`corral.drivers.runtime.base.Runtime`)."""
