"""Ray's fake multi-node provider, with one difference: each node unpacks job packages (`--working-dir`) into a
folder of its own, as each machine of a real cluster has its own disk.

Every fake node shares the head's session folder, and a node unpacks a job's working_dir with `overwrite=True`
the first time it runs the job's code: on a shared folder it deletes and re-creates the files under processes
of other nodes that are running from them (a Tune trial then fails in `os.getcwd()`). The autoscaler loads this
class from the config's provider section (`type: external`)."""

from __future__ import annotations

import secrets
from unittest import mock

import ray._private.node
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider


class OwnDiskFakeMultiNodeProvider(FakeMultiNodeProvider):
    def _create_node_with_resources_and_labels(self, node_config, tags, count, resources, labels):
        make_node = ray._private.node.Node
        folder = f"runtime_resources_{secrets.token_hex(4)}"

        def node_with_own_folder(ray_params, **kwargs):
            ray_params.runtime_env_dir_name = folder
            return make_node(ray_params, **kwargs)

        with mock.patch.object(ray._private.node, "Node", node_with_own_folder):
            super()._create_node_with_resources_and_labels(node_config, tags, count, resources, labels)
