from __future__ import annotations

from django.urls import path

from controltower.finance import views

app_name = "finance"

urlpatterns = [
    path("journal/", views.journal_list, name="journal_list"),
    path("journal/<int:pk>/", views.journal_detail, name="journal_detail"),
    path("queue/", views.finance_queue, name="queue"),
    path("queue/<int:pk>/retry/", views.posting_retry, name="posting_retry"),
]
