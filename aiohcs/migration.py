"""The documents of live migration: options of each step and the notification payload.

No published HCS schema release describes them (the schema files stop at 21H2; live
migration came later), so these models are written by hand from the facts of
microsoft/hcsshim's schema2 migration types (internal/hcs/schema2/migration.go in that
repository): member names, their JSON spelling and the enum values. Like every model of
:mod:`aiohcs.schema`, fields are optional, unknown members are kept, and an enum accepts
values it does not list.

The steps (what :meth:`ComputeSystem.migrate <aiohcs.system.ComputeSystem.migrate>` and
:meth:`ComputeSystem.migrate_in <aiohcs.system.ComputeSystem.migrate_in>` send):

* source: HcsInitializeLiveMigrationOnSource (:class:`MigrationInitializeOptions`),
  HcsStartLiveMigrationOnSource (:class:`MigrationStartOptions`, with the transport socket
  attached to the operation), HcsStartLiveMigrationTransfer
  (:class:`MigrationTransferOptions`), HcsFinalizeLiveMigration
  (:class:`MigrationFinalizedOptions`, ``FinalizedOperation`` ``Stop``);
* destination: a system created with the same configuration, started with
  :class:`StartOptions` (``DestinationMigrationOptions``) and the socket attached, then
  the transfer and HcsFinalizeLiveMigration with ``Resume``;
* either side: HcsCancelLiveMigration (:class:`MigrationCancelOptions`).

The system's events of group ``HcsEventGroupLiveMigration`` carry an
:class:`OperationSystemMigrationNotificationInfo` (see
:class:`~aiohcs.events.LiveMigrationEvent`).
"""

from __future__ import annotations

from typing import Any

from aiohcs.schema._base import F, HcsModel, OpenEnum, UInt8, UInt32, UInt64

__all__ = [
    "SOCKET_URI",
    "BlackoutExitedEventDetails",
    "CompatibilityInfo",
    "MemoryMigrationTransferThrottleParams",
    "MigrationCancelOptions",
    "MigrationCompressionSettings",
    "MigrationEvent",
    "MigrationFinalOperation",
    "MigrationFinalizedOptions",
    "MigrationInitializeOptions",
    "MigrationMemoryTransport",
    "MigrationNetworkSettings",
    "MigrationOrigin",
    "MigrationResult",
    "MigrationStartOptions",
    "MigrationTransferOptions",
    "OperationSystemMigrationNotificationInfo",
    "StartOptions",
]

#: The resource URI under which the transport socket is attached to the operation that
#: starts a migration (HcsAddResourceToOperation with HcsResourceTypeSocket).
SOCKET_URI = "hcs:/VirtualMachine/LiveMigrationSocket"


class MigrationOrigin(OpenEnum):
    """The side of the migration a call or a notification is about."""

    SOURCE = "Source"
    DESTINATION = "Destination"


class MigrationMemoryTransport(OpenEnum):
    """How the memory travels: over a TCP/IP connection."""

    TCP = "TCP"


class MigrationFinalOperation(OpenEnum):
    """What HcsFinalizeLiveMigration does with the VM: resume it or stop it."""

    RESUME = "Resume"
    STOP = "Stop"


class MigrationEvent(OpenEnum):
    """What a live-migration notification reports."""

    UNKNOWN = "Unknown"
    MIGRATION_DONE = "MigrationDone"
    BLACKOUT_STARTED = "BlackoutStarted"
    OFFLINE_DONE = "OfflineDone"
    BLACKOUT_EXITED = "BlackoutExited"
    SETUP_DONE = "SetupDone"
    TRANSFER_IN_PROGRESS = "TransferInProgress"
    MIGRATION_RECOVERY_DONE = "MigrationRecoveryDone"
    MIGRATION_FAILED = "MigrationFailed"


class MigrationResult(OpenEnum):
    """The outcome a (mostly terminal) live-migration notification carries."""

    INVALID = "Invalid"
    SUCCESS = "Success"
    MIGRATION_CANCELLED = "MigrationCancelled"
    GUEST_INITIATED_CANCELLATION = "GuestInitiatedCancellation"
    SOURCE_MIGRATION_FAILED = "SourceMigrationFailed"
    DESTINATION_MIGRATION_FAILED = "DestinationMigrationFailed"
    MIGRATION_RECOVERY_FAILED = "MigrationRecoveryFailed"


class MemoryMigrationTransferThrottleParams(HcsModel):
    """Throttling of the memory transfer."""

    skip_throttling: bool | None = F("SkipThrottling")
    throttling_scale: float | None = F("ThrottlingScale")
    minimum_throttle_percentage: UInt8 | None = F("MinimumThrottlePercentage")
    target_number_of_brownout_transfer_passes: UInt32 | None = F(
        "TargetNumberOfBrownoutTransferPasses"
    )
    starting_brownout_pass_number_for_throttling: UInt32 | None = F(
        "StartingBrownoutPassNumberForThrottling"
    )
    maximum_number_of_brownout_transfer_passes: UInt32 | None = F(
        "MaximumNumberOfBrownoutTransferPasses"
    )
    target_blackout_transfer_time: UInt32 | None = F("TargetBlackoutTransferTime")
    blackout_time_threshold_for_cancelling_migration: UInt32 | None = F(
        "BlackoutTimeThresholdForCancellingMigration"
    )


class MigrationCompressionSettings(HcsModel):
    """Compression of the transfer: the (de)compression thread count."""

    throttle_worker_count: UInt32 | None = F("ThrottleWorkerCount")


class CompatibilityInfo(HcsModel):
    """Opaque compatibility data of the VM (base64 in JSON)."""

    data: str | None = F("Data")


class MigrationInitializeOptions(HcsModel):
    """Options of HcsInitializeLiveMigrationOnSource."""

    origin: MigrationOrigin | None = F("Origin")
    memory_transport: MigrationMemoryTransport | None = F("MemoryTransport")
    memory_transfer_throttle_params: MemoryMigrationTransferThrottleParams | None = F(
        "MemoryTransferThrottleParams"
    )
    compression_settings: MigrationCompressionSettings | None = F("CompressionSettings")
    checksum_verification: bool | None = F("ChecksumVerification")
    perf_tracing_enabled: bool | None = F("PerfTracingEnabled")
    cancel_if_blackout_threshold_exceeds: bool | None = F("CancelIfBlackoutThresholdExceeds")
    prepare_memory_transfer_mode: bool | None = F("PrepareMemoryTransferMode")
    compatibility_data: CompatibilityInfo | None = F("CompatibilityData")


class MigrationNetworkSettings(HcsModel):
    """The session of the socket connection between source and destination."""

    session_id: UInt32 | None = F("SessionId")


class MigrationStartOptions(HcsModel):
    """Options of HcsStartLiveMigrationOnSource (and of a destination's start)."""

    network_settings: MigrationNetworkSettings | None = F("NetworkSettings")


class MigrationTransferOptions(HcsModel):
    """Options of HcsStartLiveMigrationTransfer."""

    origin: MigrationOrigin | None = F("Origin")


class MigrationFinalizedOptions(HcsModel):
    """Options of HcsFinalizeLiveMigration."""

    origin: MigrationOrigin | None = F("Origin")
    finalized_operation: MigrationFinalOperation | None = F("FinalizedOperation")


class MigrationCancelOptions(HcsModel):
    """Options of HcsCancelLiveMigration."""

    origin: MigrationOrigin | None = F("Origin")


class StartOptions(HcsModel):
    """Options of HcsStartComputeSystem: a destination's migration settings."""

    destination_migration_options: MigrationStartOptions | None = F("DestinationMigrationOptions")


class BlackoutExitedEventDetails(HcsModel):
    """The AdditionalDetails of a ``BlackoutExited`` notification."""

    blackout_duration_milliseconds: UInt64 | None = F("BlackoutDurationMilliseconds")
    blackout_stop_timestamp: str | None = F("BlackoutStopTimestamp")


class OperationSystemMigrationNotificationInfo(HcsModel):
    """The payload of a live-migration event: where, what, and (when terminal) how it ended."""

    origin: MigrationOrigin | None = F("Origin")
    event: MigrationEvent | None = F("Event")
    result: MigrationResult | None = F("Result")
    additional_details: Any = F("AdditionalDetails")
