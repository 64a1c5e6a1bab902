"""Which of messaging's RPCs a *user* token may call (when SWITCHBOARD_GRPC_USER_TOKENS
lets user tokens in; service tokens call everything): a user's own sends, templates,
history and webhooks."""

from kernel.tokens import USER, access_table
from switchboard.messaging.v1 import messaging_pb2

ACCESS = access_table(
    messaging_pb2.DESCRIPTOR.services_by_name["MessagingService"],
    SendMessage=USER, SendBulkMessage=USER,
    CreateTemplate=USER, GetTemplate=USER, ListTemplates=USER, UpdateTemplate=USER,
    DeleteTemplate=USER,
    GetMessageStatus=USER, ListMessages=USER, GetBulkJob=USER,
    ListInbox=USER, GetInboundMessage=USER,
    CreateWebhook=USER, ListWebhooks=USER, DeleteWebhook=USER, ListWebhookDeliveries=USER,
)
