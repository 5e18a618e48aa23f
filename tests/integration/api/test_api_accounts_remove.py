"""`DELETE /v1/accounts/{username}`: admin only, the same removal as `musktracker accounts
remove --yes` (every row referring to the account, its artifact files), other accounts
untouched. Real app, real SQLite and PostgreSQL, real posts and model fits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from musktracker import account_removal
from musktracker.accounts import add_account
from musktracker.db.models import Account
from musktracker.db.session import session_scope
from musktracker.ingest.importer import import_archive
from tests.integration.api.conftest import Api, build_api
from tests.integration.foundation.test_accounts_remove import (
    account_keys,
    rows_of,
    snapshot,
    without,
)
from tests.shifted_posts import shifted_copy

WINDOW = "start=2022-11-01T00:00:00Z&end=2022-11-08T00:00:00Z&granularity=day"
FORECAST = "forecast?horizon=24h&model=hour_of_day_mean"


def data(engine: Engine) -> dict[str, object]:
    """The snapshot without api_keys, whose last_used_at every request moves."""
    return {t: rows for t, rows in snapshot(engine).items() if t != "api_keys"}


@pytest.fixture
def two_accounts_api(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path
) -> Iterator[Api]:
    """The app over @elonmusk and @spacex, each with 3,000 real posts (@spacex's 3 h earlier,
    with the ids those times give: a post has one author) and a forecast."""
    archives = {"elonmusk": posts_sample,
                "spacex": shifted_copy(posts_sample, tmp_path / "spacex.csv")}
    with session_scope(engine) as session:
        for name in ("elonmusk", "spacex"):
            add_account(session, name)
            import_archive(session, name, archives[name])
    for api in build_api(engine, db_url, artifact_dir=tmp_path / "artifacts"):
        for name in ("elonmusk", "spacex"):
            assert api.get(f"/v1/accounts/{name}/{FORECAST}").status_code == 200
        yield api


def test_delete_needs_admin_and_removes_that_account_only(
    two_accounts_api: Api, tmp_path: Path
) -> None:
    api = two_accounts_api
    engine = api.engine
    with session_scope(engine) as session:
        ids = {name: id_ for name, id_ in session.execute(select(Account.username, Account.id))}
    root = tmp_path / "artifacts"
    assert list((root / str(ids["spacex"])).glob("*.pkl"))
    before = snapshot(engine)

    assert api.delete("/v1/accounts/spacex", key=None).status_code == 401
    for key in ("read", "write"):
        denied = api.delete("/v1/accounts/spacex", key=key)
        assert denied.status_code == 403
        assert "lacks the 'admin' scope" in denied.json()["error"]["message"]
    unknown = api.delete("/v1/accounts/nobody", key="admin")
    assert unknown.status_code == 404
    assert "account 'nobody' is not tracked" in unknown.json()["error"]["message"]
    malformed = api.delete("/v1/accounts/bad-handle!", key="admin")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "path.username"
    assert data(engine) == {t: rows for t, rows in before.items() if t != "api_keys"}

    removed = api.delete("/v1/accounts/SpaceX", key="admin")
    assert removed.status_code == 200, removed.text
    body = removed.json()
    keys = account_keys(engine)
    assert body["account"] == "spacex" and body["id"] == ids["spacex"]
    assert set(body["deleted_rows"]) == set(keys)
    assert body["deleted_rows"]["raw_tweets"] == 3000
    assert body["deleted_rows"]["model_metadata"] >= 1 and body["deleted_rows"]["forecasts"] >= 24
    assert body["artifacts_deleted"] >= 1
    assert body["artifacts_kept"] == body["artifacts_failed"] == 0

    assert rows_of(engine, ids["spacex"]) == dict.fromkeys(keys, 0)
    assert not (root / str(ids["spacex"])).exists()
    assert list((root / str(ids["elonmusk"])).glob("*.pkl"))
    after = snapshot(engine)
    for table in keys:
        assert after[table][1] == without(before[table], keys[table][0], ids["spacex"]), table
    assert after["accounts"][1] == without(before["accounts"], "id", ids["spacex"])

    assert api.get(f"/v1/accounts/spacex/counts?{WINDOW}").status_code == 404
    assert api.get(f"/v1/accounts/elonmusk/counts?{WINDOW}").json()["total"] > 0
    assert [a["username"] for a in api.get("/v1/accounts").json()] == ["elonmusk"]
    assert api.delete("/v1/accounts/spacex", key="admin").status_code == 404


def test_a_delete_that_loses_the_race_to_another_is_a_404_not_a_500(
    two_accounts_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six DELETEs at once all find the account; one removes it, the others' DELETE then
    matches no row. They are 404s (as a DELETE after it), not unhandled errors."""
    api = two_accounts_api
    real_plan = account_removal.plan_removal

    def plan_then_lose_the_race(session: Session, username: str, artifact_dir: Path | None = None
                                ) -> account_removal.Removal:
        plan = real_plan(session, username, artifact_dir)
        with api.engine.begin() as other:  # the concurrent DELETE commits first
            other.execute(delete(Account).where(Account.id == plan.account_id))
        return plan

    monkeypatch.setattr(account_removal, "plan_removal", plan_then_lose_the_race)
    lost = api.delete("/v1/accounts/spacex", key="admin")
    assert lost.status_code == 404, lost.text
    assert "account 'spacex' is no longer tracked" in lost.json()["error"]["message"]
    monkeypatch.undo()
    assert [a["username"] for a in api.get("/v1/accounts").json()] == ["elonmusk"]
