"""The mappings page (mounted at ``/mappings/``): one list page, and per section an add and an
edit form, a delete action and a preview of a change. ``kind`` is a section of
``mappings_views.SECTIONS`` (``status``, ``gl``, ``payment-methods``, ``slas``)."""

from __future__ import annotations

from django.urls import path

from controltower.dashboards import mappings_views as views

app_name = "mappings"

urlpatterns = [
    path("", views.mapping_list, name="mapping_list"),
    path("<slug:kind>/new/", views.mapping_add, name="mapping_add"),
    path("<slug:kind>/preview/", views.mapping_preview, name="mapping_preview_new"),
    path("<slug:kind>/<int:pk>/", views.mapping_edit, name="mapping_edit"),
    path("<slug:kind>/<int:pk>/preview/", views.mapping_preview, name="mapping_preview"),
    path("<slug:kind>/<int:pk>/delete/", views.mapping_delete, name="mapping_delete"),
]
