"""The todos API. Each view lists, per method, the Writ permissions it needs
(`required_permissions`, checked by todos.writ.HasWritPermission); todos belong to the
caller's `sub`, so nobody sees, changes or deletes another user's todos (404 instead).

| route | permission |
|---|---|
| `GET /api/todos` | `read:todos` |
| `POST /api/todos` `{"title": "…"}` | `write:todos` |
| `GET /api/todos/<id>` | `read:todos` |
| `PATCH /api/todos/<id>` `{"title"?, "done"?}` | `write:todos` |
| `DELETE /api/todos/<id>` | `delete:todos` |
| `GET /api/me` | any valid token |
| `GET /api/reports` | the role `reporter` in `app_metadata.authorization.roles` (read from the Management API) |
| `GET /api/team` | the group `staff` in `app_metadata.authorization.groups` (read from the Management API) |
| `GET /api/health` | none |
"""
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from .auth0_ext import HasAuth0Group, HasAuth0Role
from .models import Todo
from .serializers import TodoSerializer
from .writ import HasWritPermission


class TodoList(generics.ListCreateAPIView):
    serializer_class = TodoSerializer
    required_permissions = {"GET": ["read:todos"], "POST": ["write:todos"]}

    def get_queryset(self):
        return Todo.objects.filter(owner=self.request.user.sub)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user.sub)

    def get_success_headers(self, data):
        return {"Location": f"/api/todos/{data['id']}"}


class TodoDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = TodoSerializer
    http_method_names = ["get", "patch", "delete", "head"]
    required_permissions = {
        "GET": ["read:todos"],
        "PATCH": ["write:todos"],
        "DELETE": ["delete:todos"],
    }

    def get_queryset(self):
        return Todo.objects.filter(owner=self.request.user.sub)


class Me(APIView):
    """Who the API thinks the caller is: handy to see what the gate passed on."""

    required_permissions = {"GET": []}

    def get(self, request):
        user = request.user
        return Response(
            {
                "sub": user.sub,
                "permissions": sorted(user.permissions),
                "scope": user.scope,
                "client_id": user.client_id,
            }
        )


class Reports(APIView):
    """Only for holders of the role `reporter` (directly or through a group), as
    djangorestframework-auth0's role permission checks it with the Authorization Extension."""

    permission_classes = [HasWritPermission, HasAuth0Role]
    required_permissions = {"GET": []}
    required_roles = {"GET": ["reporter"]}

    def get(self, request):
        a = request.auth0_authorization
        return Response({"sub": request.user.sub, "roles": a["roles"], "groups": a["groups"]})


class Team(APIView):
    """Only for members of the group `staff` (or of a group below it)."""

    permission_classes = [HasWritPermission, HasAuth0Group]
    required_permissions = {"GET": []}
    required_groups = {"GET": ["staff"]}

    def get(self, request):
        a = request.auth0_authorization
        return Response({"sub": request.user.sub, "groups": a["groups"]})


class Health(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return Response({"status": "ok"})
