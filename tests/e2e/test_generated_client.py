"""A Python client generated from the OpenAPI document the running gateway serves
(`openapi-python-client`, offline, into a temp dir) drops nothing, and works: signed in
with it, a user sends a message and follows it to Read, sends a bulk request and follows
its job's counts, and an instance linked through the simulator sends with its key pair,
every answer parsed by the generated models (a field the document promises and the
answer lacks fails the parse)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.device.test_simulator import decode_qr_data_url
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

PACKAGE = "sb_generated_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
ADMIN = {"admin_user": "root", "admin_password": "root-password-1"}


def snake(name: str) -> str:
    """The generator's module name for an operationId (`v1Send` -> `v_1_send`)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[a-zA-Z])", "_", name)
    return spaced.lower()


def generate(document: dict[str, Any], where: Path) -> str:
    """Generate the client package into `where`; the generator's own report."""
    (where / "openapi.json").write_text(json.dumps(document))
    (where / "config.yml").write_text("post_hooks: []\n")  # no formatter run: offline, fast
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", PACKAGE, "--config", "config.yml"],
        cwd=where, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), **ADMIN) as running:
        yield running


@pytest.fixture(scope="module")
def client_package(stack: Stack, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[ModuleType, dict[str, Any]]]:
    where = tmp_path_factory.mktemp("client")
    document = httpx.get(f"{stack.url}/openapi.json", timeout=10).json()
    report = generate(document, where)
    assert "warning" not in report.lower() and "skipp" not in report.lower(), report
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE), document
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _operation(package: ModuleType, tag: str, operation_id: str) -> Any:
    folder = snake(tag.replace(" ", "_"))
    return importlib.import_module(f"{PACKAGE}.api.{folder}.{snake(operation_id)}")


def test_every_operation_and_model_of_the_document_is_generated(
        client_package: tuple[ModuleType, dict[str, Any]]) -> None:
    package, document = client_package
    operations = [(op["tags"][0], op["operationId"]) for ops in document["paths"].values()
                  for op in ops.values()]
    assert len(operations) >= 45
    for tag, operation_id in operations:
        assert callable(_operation(package, tag, operation_id).sync_detailed), operation_id
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in document["components"]["schemas"]:
        assert hasattr(models, re.sub(r"[^0-9A-Za-z]", "", name)), name


def _until_read(ops: Any, client: Any, queue_id: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = ops("messages", "messageStatus").sync(queue_id, client=client)
        assert status.status != "Failed", status
        if status.status == "Read":
            return status
        time.sleep(0.1)
    raise AssertionError(f"{queue_id} never reached Read: {status}")


def _job_done(ops: Any, client: Any, job_id: str) -> Any:
    """The bulk job once its counts say every message has been read."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = ops("messages", "bulkJob").sync(job_id, client=client)
        if job.read == job.total:
            return job
        time.sleep(0.1)
    raise AssertionError(f"bulk job {job_id} never counted every message Read: {job}")


def test_the_generated_client_signs_in_sends_follows_bulk_sends_and_sends_as_an_instance(
        stack: Stack, client_package: tuple[ModuleType, dict[str, Any]], unique: str) -> None:
    package, _ = client_package
    models = importlib.import_module(f"{PACKAGE}.models")

    def ops(tag: str, operation_id: str) -> Any:
        return _operation(package, tag, operation_id)

    anonymous = package.Client(base_url=stack.url, raise_on_unexpected_status=True)
    name, password = f"gen{unique}"[:40], "generated-client-pw-1"
    made = ops("auth", "register").sync_detailed(
        client=anonymous, body=models.RegisterBody(username=name, password=password))
    assert made.status_code == 201, made.content
    root = ops("auth", "login").sync(client=anonymous, body=models.LoginBody(
        username=ADMIN["admin_user"], password=ADMIN["admin_password"]))
    admin = package.AuthenticatedClient(base_url=stack.url, token=root.access_token)
    signed = ops("auth", "login").sync(client=anonymous,
                                       body=models.LoginBody(username=name, password=password))
    assert isinstance(signed, models.SignedIn), signed
    granted = ops("admin", "addCredits").sync(signed.user_id, client=admin,
                                              body=models.CreditsBody(amount=10))
    assert isinstance(granted, models.CreditsGranted), granted
    user = package.AuthenticatedClient(base_url=stack.url, token=signed.access_token)

    queued = ops("messages", "sendMessage").sync(client=user, body=models.SendMessageBody(
        number="27821234567", message="from the generated client"))
    assert isinstance(queued, models.MessageQueued), queued
    assert _until_read(ops, user, queued.queue_id).number == "27821234567"

    bulk = ops("messages", "sendBulkMessage").sync(client=user, body=models.BulkBody(
        numbers=["27821234568", "+27821234569", "27821234568"], message="bulk, generated"))
    assert isinstance(bulk, models.BulkQueued) and bulk.messages_created == 2, bulk
    for queue_id in bulk.queue_ids:
        _until_read(ops, user, queue_id)
    job = _job_done(ops, user, bulk.job_id)
    assert (job.total, job.read, job.failed) == (2, 2, 0), job

    refused = ops("messages", "sendMessage").sync(client=user, body=models.SendMessageBody(
        number="not a number", message="x"))
    assert isinstance(refused, models.ErrorBody) and refused.error == "INVALID_REQUEST"

    instance = ops("instances", "createInstance").sync(
        client=user, body=models.CreateBody(instance_name="generated"))
    assert isinstance(instance, models.InstanceCredentials), instance
    keys = package.AuthenticatedClient(  # the key pair, through the generator's own auth
        base_url=stack.url, token=instance.secret_key, prefix="",
        auth_header_name="X-Secret-Key", headers={"X-Public-Key": instance.public_key})
    qr = ops("instance api", "v1Qrcode").sync(client=keys)
    assert isinstance(qr, models.OkQrCode), qr
    linked = ops("simulator", "simulatorScan").sync_detailed(client=anonymous, body=models.ScanBody(
        qr=decode_qr_data_url(qr.data.qr_code), phone_number="15550007777"))
    assert linked.status_code == 200, linked.content
    sent = ops("instance api", "v1Send").sync(client=keys, body=models.InstanceSendBody(
        phone_number="27821234570", message="from the instance, generated"))
    assert isinstance(sent, models.OkMessageSent) and sent.data.status == "sent", sent
    info = ops("instance api", "v1Instance").sync(client=keys)
    assert info.data.status == "Connected" and info.data.whatsapp_number == "15550007777"
    wrong = ops("instance api", "v1Quota").sync(client=package.AuthenticatedClient(
        base_url=stack.url, token="sk_wrong", prefix="", auth_header_name="X-Secret-Key",
        headers={"X-Public-Key": instance.public_key}))
    assert isinstance(wrong, models.V1Error) and wrong.error == "INVALID_CREDENTIALS"
