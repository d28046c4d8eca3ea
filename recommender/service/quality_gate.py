"""The quality gate: a retrained model serves only if its held-out metrics are not much worse."""

from dataclasses import dataclass

NDCG = "ndcg_at_10"


@dataclass(frozen=True)
class QualityGate:
    """Reject a candidate whose held-out RMSE is worse by more than ``rmse`` (absolute) or whose
    NDCG@10 is lower by more than ``ndcg`` (a share of the serving model's)."""

    rmse: float = 0.02
    ndcg: float = 0.10
    enabled: bool = True

    def rejection(self, candidate, serving):
        """Why ``candidate`` may not replace ``serving`` (TrainedModels), or None when it may.

        A metric either model lacks (no record, implicit mode, no held-out users) is not judged.
        """
        if not self.enabled or serving is None:
            return None
        new, old = heldout_of(candidate), heldout_of(serving)
        reasons = []
        if new.get("rmse") is not None and old.get("rmse") is not None and new["rmse"] > old["rmse"] + self.rmse:
            reasons.append(
                f"held-out RMSE {new['rmse']:.4f} is worse than the serving model's {old['rmse']:.4f} "
                f"by more than {self.rmse:g}"
            )
        if new.get(NDCG) is not None and old.get(NDCG) is not None and new[NDCG] < old[NDCG] * (1 - self.ndcg):
            reasons.append(
                f"held-out NDCG@10 {new[NDCG]:.4f} is lower than the serving model's {old[NDCG]:.4f} "
                f"by more than {self.ndcg:.0%}"
            )
        return "; ".join(reasons) or None


def heldout_of(model):
    return (model.record or {}).get("heldout") or {}
