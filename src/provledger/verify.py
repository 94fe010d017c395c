"""The offline verifier: a bundle, a trust policy and a time; no network, no
database. Importing this module loads no storage code (a test checks it).

    from provledger.verify import read_policy, verify_bundle
    report = verify_bundle(data, policy=read_policy("rings.policy"), now=int(time.time()),
                           item="https://maison-rose.example/01/09506000134352/21/R-1001")
"""

from ._model import CheckpointInfo, Cosigner, EscrowView, History
from ._policy import (
    DEFAULT_MAX_AGE,
    Policy,
    PolicyWitness,
    WitnessGroup,
    parse_policy,
    read_policy,
)
from ._seen import SeenCheckpoints
from ._verify import VERIFICATION_CHECKS, Report, verify_bundle

__all__ = [
    "DEFAULT_MAX_AGE",
    "VERIFICATION_CHECKS",
    "CheckpointInfo",
    "Cosigner",
    "EscrowView",
    "History",
    "Policy",
    "PolicyWitness",
    "Report",
    "SeenCheckpoints",
    "WitnessGroup",
    "parse_policy",
    "read_policy",
    "verify_bundle",
]
