from django.urls import path

from . import views

urlpatterns = [
    path("health", views.Health.as_view()),
    path("me", views.Me.as_view()),
    path("reports", views.Reports.as_view()),
    path("team", views.Team.as_view()),
    path("todos", views.TodoList.as_view()),
    path("todos/<int:pk>", views.TodoDetail.as_view()),
]
