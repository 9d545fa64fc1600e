"""The sweeps layer: sweep specifications, the computation registry, executors and the resumable store.

- :mod:`featmech.sweeps.sweep`: the front door (``load_spec``, ``run_sweep``, ``SweepReport``, ``run_point``);
- :mod:`featmech.sweeps.registry`: ``Computation``, ``COMPUTATIONS``, ``register``, ``get``;
- :mod:`featmech.sweeps.computations`: the built-in ``trajectory`` and ``simulate`` computations;
- :mod:`featmech.sweeps.spec`: the TOML spec, validated against :data:`featmech.params.PARAMETERS`;
- :mod:`featmech.sweeps.executors`: serial, process-pool and Dask executors;
- :mod:`featmech.sweeps.store`: the SQLite results store, ``StoreStatus``, ``export_store``;
- :mod:`featmech.sweeps.progress`: the progress line.
"""
