"""Every table, imported in one place for alembic and the tests."""

from creditbank.catalogue.models import Outcome
from creditbank.certificates.models import (
    Certificate,
    CertificateSource,
    ShareLink,
    ShareLinkCertificate,
    StatusList,
)
from creditbank.completions.models import Completion, CompletionImport
from creditbank.conversion.models import Conversion, ConversionLot, ConversionRule, Qualification
from creditbank.idempotency import IdempotencyRecord
from creditbank.institutions.models import ApiKey, Institution, OperatorToken
from creditbank.learners.models import (
    ActivationCode,
    DeploymentSecret,
    InstitutionLearner,
    Learner,
    LearnerSession,
)
from creditbank.ledger.models import (
    LearnerBalance,
    LedgerAccount,
    LedgerHead,
    LedgerTransaction,
    Lot,
    LotBatch,
    Posting,
)
from creditbank.staff.models import OperatorAccount, StaffAccount, StaffAction, StaffSession, StaffUpload
from creditbank.stats.models import Area, Award, Population, Target
from creditbank.translog.models import (
    TranslogCheckpoint,
    TranslogCosignature,
    TranslogHead,
    TranslogLeaf,
    TranslogTile,
)
from creditbank.verification.models import VerificationTally

__all__ = [
    "ActivationCode",
    "ApiKey",
    "Area",
    "Award",
    "Certificate",
    "CertificateSource",
    "Completion",
    "CompletionImport",
    "Conversion",
    "ConversionLot",
    "ConversionRule",
    "DeploymentSecret",
    "IdempotencyRecord",
    "Institution",
    "InstitutionLearner",
    "Learner",
    "LearnerBalance",
    "LearnerSession",
    "LedgerAccount",
    "LedgerHead",
    "LedgerTransaction",
    "Lot",
    "LotBatch",
    "OperatorAccount",
    "OperatorToken",
    "Outcome",
    "Population",
    "Posting",
    "Qualification",
    "ShareLink",
    "ShareLinkCertificate",
    "StaffAccount",
    "StaffAction",
    "StaffSession",
    "StaffUpload",
    "StatusList",
    "Target",
    "TranslogCheckpoint",
    "TranslogCosignature",
    "TranslogHead",
    "TranslogLeaf",
    "TranslogTile",
    "VerificationTally",
]
