"""Ray's fake multi-node provider, with one difference: each node unpacks job packages (`--working-dir`) into a
folder of its own, as each machine of a real cluster has its own disk.

Every fake node shares the head's session folder, and a node unpacks a job's working_dir with `overwrite=True`
the first time it runs the job's code: on a shared folder it deletes and re-creates the files under processes
of other nodes that are running from them (the job's driver then fails in `os.getcwd()`). The autoscaler loads
this module from the config's provider section (`type: external`), in its own process, where nodes are only
ever made by this provider: replacing Ray's Node class there, once, touches nothing else."""

from __future__ import annotations

import secrets

import ray._private.node
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider


class OwnDiskNode(ray._private.node.Node):
    def __init__(self, ray_params, head: bool = False, **kwargs):
        if not head:
            ray_params.runtime_env_dir_name = f"runtime_resources_{secrets.token_hex(4)}"
        super().__init__(ray_params, head=head, **kwargs)


# The provider looks the class up on the module at each launch, from the autoscaler's launcher threads.
ray._private.node.Node = OwnDiskNode


class OwnDiskFakeMultiNodeProvider(FakeMultiNodeProvider):
    """Ray's FakeMultiNodeProvider, importable by name with OwnDiskNode in place."""
