"""Which of auth's RPCs a *user* token may call (when SWITCHBOARD_GRPC_USER_TOKENS lets
user tokens in; service tokens call everything). Sign-up and sign-in need no token."""

from kernel.tokens import ADMIN, PUBLIC, USER, access_table
from switchboard.auth.v1 import auth_pb2

ACCESS = access_table(
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    Register=PUBLIC, Login=PUBLIC,
    VerifyToken=USER, GetUser=USER,
    CreateInstance=USER, ListInstances=USER, GetInstance=USER, DeleteInstance=USER,
    RotateInstanceKeys=USER,
    ListUsers=ADMIN, UpdateUser=ADMIN, DisableUser=ADMIN,
)
