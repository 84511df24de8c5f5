"""French names of what the pages show: notification kinds, audit actions."""

from __future__ import annotations

__all__ = ["ACTION_LABELS", "KIND_LABELS"]

KIND_LABELS = {
    "assignment.proposed": "Une proposition de mission",
    "assignment.accepted": "Une proposition acceptée",
    "assignment.declined": "Une proposition déclinée",
    "assignment.approval_requested": "Une demande de validation (responsable)",
    "assignment.approved": "Une mise à disposition approuvée",
    "assignment.refused": "Une mise à disposition refusée",
    "assignment.activated": "Une mission qui commence",
    "assignment.completed": "Une mission terminée",
    "assignment.withdrawn": "Une proposition retirée",
    "assignment.expired": "Une proposition expirée",
    "assignment.forced": "Une affectation imposée par la DINUM",
    "need.created": "Un nouveau besoin",
    "need.priority_changed": "Un changement de priorité",
    "need.staffed": "Un besoin pourvu",
    "allocation.run_completed": "Une allocation terminée",
    "reminder.proposal_pending": "Rappel : une proposition attend votre réponse",
    "reminder.approval_pending": "Rappel : une validation attend le responsable",
    "reminder.availability_ending": "Rappel : votre disponibilité se termine",
    "reminder.profile_stale": "Rappel : votre profil n'a pas été mis à jour",
    "digest.reviewer": "Synthèse pour la DINUM",
    "digest.user": "Synthèse périodique",
}

ACTION_LABELS = {
    "assignment.proposed": "proposition",
    "assignment.accepted": "acceptation par l'agent",
    "assignment.declined": "refus par l'agent",
    "assignment.approval_requested": "demande de validation au responsable",
    "assignment.approved": "validation par le responsable",
    "assignment.refused": "refus du responsable",
    "assignment.activated": "début de mission",
    "assignment.completed": "fin de mission",
    "assignment.withdrawn": "retrait",
    "assignment.expired": "expiration",
    "assignment.forced": "affectation imposée",
    "assignment.removed": "retrait par la DINUM",
    "need.created": "création du besoin",
    "need.updated": "modification du besoin",
    "need.priority_changed": "changement de priorité",
    "need.staffed": "besoin pourvu",
    "allocation.run": "allocation",
}
