"""`kb`: the whole job from a terminal, as the token's user, through the API.

    kb ingest docs/ manual.pdf --category handbook   add files, and folders of them
    kb search "how do I rotate keys?" -k 5           find passages, with citations
    kb list --category handbook                      what you may read
    kb show ID                                       a document: text, status, passages
    kb delete ID...                                  delete documents
    kb sync docs/                                    keep a folder's documents like its files
    kb export > kb.jsonl; kb import kb.jsonl         your documents, out and back in
    kb workspaces create "Support team"              share with others
    kb agents grant CLIENT_ID --access read          let an AI agent read your knowledge
    kb whoami                                        your user id (to be invited to a workspace)

Files are PDF, Word (.docx), HTML, Markdown and plain text (.txt, .rst): the API detects the
format from the content, reads it in a sandboxed process and keeps its structure, so a passage
found later cites its page (PDF) or its headings (DOCX, HTML, Markdown). Writes wait until what
was written is searchable. A file or document the API refuses is named with the reason, and the
others are still done.

The user is whoever the access token belongs to: --token, or KB_ACCESS_TOKEN. On the local
stack: export KB_ACCESS_TOKEN=$(kb-stack user alice@example.com). Every command takes --json
for scripts. Defaults and bounds are the API's and the MCP server's (knowledge_core.limits).
"""

import argparse
import os
import sys
from collections.abc import Callable

from api.cli import commands, folders
from api.cli.client import (
    AUTH,
    EXIT_CODES,
    Api,
    ApiError,
    Bounded,
    json_object,
    warn,
)
from knowledge_core import limits

Command = Callable[[Api, argparse.Namespace], int]


def _command(
    commands_: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
    name: str,
    run: Command,
    summary: str,
    description: str,
    examples: str,
) -> argparse.ArgumentParser:
    parser = commands_.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples}\n\n{EXIT_CODES}",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def _placing(parser: argparse.ArgumentParser) -> None:
    """Where new documents go and what they carry (ingest, sync)."""
    parser.add_argument("--category", help="category of the documents")
    parser.add_argument("--workspace", metavar="UUID", help="put the documents in this workspace")
    parser.add_argument(
        "--metadata", type=json_object, metavar="JSON", help='extra metadata, e.g. {"lang": "en"}'
    )


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--category", help="only this category")
    parser.add_argument("--workspace", metavar="UUID", help="only this workspace's documents")
    parser.add_argument(
        "--metadata",
        type=json_object,
        metavar="JSON",
        help='metadata they contain, e.g. {"lang": "en"}',
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kb",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--api-url",
        default=os.environ.get("KB_API_URL", "http://127.0.0.1:54330"),
        help="the API's base URL (env KB_API_URL)",
    )
    parser.add_argument("--token", help="a Supabase access token (env KB_ACCESS_TOKEN)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the answer as JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = _command(
        sub,
        common,
        "ingest",
        commands.ingest,
        "add files and folders: PDF, DOCX, HTML, Markdown, text",
        "Upload files (PDF, .docx, HTML, Markdown, .txt/.rst) and folders of them. The format "
        "is detected from the content; passages keep their page (PDF) or heading path (DOCX, "
        "HTML, Markdown) for citations. Refused files are named with the reason.",
        "  kb ingest manual.pdf notes/ --category handbook\n"
        '  kb ingest report.docx --workspace 6f1c... --metadata \'{"lang": "en"}\'',
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    _placing(ingest)
    ingest.add_argument(
        "--no-wait", action="store_true", help="return once stored, before they are searchable"
    )

    find = _command(
        sub,
        common,
        "search",
        commands.search,
        "search what you may read",
        "Find the passages that best answer a question, among the documents you may read.",
        '  kb search "how do I rotate keys?"\n'
        '  kb search "ERR_TLS_CERT" --mode hybrid -k 10 --threshold 0.3 --json\n'
        '  kb search "glacier melt rates" --mode keyword --group-by document',
    )
    find.add_argument("query")
    find.add_argument(
        "-k",
        type=Bounded(int, 1, limits.MAX_K),
        default=limits.DEFAULT_K,
        help=f"how many passages (1-{limits.MAX_K}; default {limits.DEFAULT_K})",
    )
    find.add_argument(
        "--mode",
        choices=limits.SEARCH_MODES,
        default=limits.DEFAULT_MODE,
        help="semantic (by meaning), keyword (by the words: any of them, rare ones weigh more) "
        f"or hybrid (both); default {limits.DEFAULT_MODE}",
    )
    find.add_argument(
        "--group-by",
        choices=limits.GROUPINGS,
        default=limits.DEFAULT_GROUP_BY,
        help="passage (the best passages) or document (the best documents, each once at its "
        f"best passage); default {limits.DEFAULT_GROUP_BY}",
    )
    find.add_argument(
        "--threshold",
        type=Bounded(float, limits.MIN_THRESHOLD, limits.MAX_THRESHOLD),
        help="only passages at least this similar (cosine, -1 to 1; not with --mode keyword)",
    )
    _filters(find)

    listing = _command(
        sub,
        common,
        "list",
        commands.list_documents,
        "list the documents you may read",
        "Your documents and your workspaces', newest first, with their status.",
        "  kb list\n  kb list --category handbook --all --json\n"
        '  kb list --metadata \'{"lang": "en"}\' --limit 50 --offset 50',
    )
    _filters(listing)
    listing.add_argument("--source", help="only documents from this source (exact match)")
    listing.add_argument(
        "--limit",
        type=Bounded(int, 1, limits.MAX_PAGE_SIZE),
        default=limits.DEFAULT_PAGE_SIZE,
        help=f"documents per page (1-{limits.MAX_PAGE_SIZE})",
    )
    listing.add_argument(
        "--offset", type=Bounded(int, 0, limits.MAX_OFFSET), default=0, help="skip this many"
    )
    listing.add_argument("--all", action="store_true", help="every page")

    show = _command(
        sub,
        common,
        "show",
        commands.show,
        "show a document: text, status, passages",
        "A document's fields, its status, and its passages with where they are in its file.",
        "  kb show 0b6d2c1e-...\n  kb show 0b6d2c1e-... --text > doc.txt",
    )
    show.add_argument("id", metavar="ID")
    show.add_argument("--text", action="store_true", help="print only its text")

    delete = _command(
        sub,
        common,
        "delete",
        commands.delete,
        "delete documents",
        "Delete documents and their passages, for good.",
        "  kb delete 0b6d2c1e-... 7a9e4f00-...",
    )
    delete.add_argument("ids", nargs="+", metavar="ID")

    sync = _command(
        sub,
        common,
        "sync",
        folders.sync,
        "make a folder's documents match its files",
        "Add documents for new files, replace the text of changed ones (same document; only "
        "changed passages are embedded again), delete the documents of files that are gone; "
        "unreadable files are reported and their documents kept. Files are matched to "
        "documents by their path inside the folder. Running it again changes nothing.",
        "  kb sync docs/ --dry-run\n  kb sync docs/ --category handbook\n"
        "  kb sync ~/notes --name notes --workspace 6f1c...",
    )
    sync.add_argument("folder", metavar="DIR")
    sync.add_argument(
        "--name", help="what the folder is called in the documents' metadata (default: its path)"
    )
    _placing(sync)
    sync.add_argument(
        "--dry-run", action="store_true", help="say what would change; change nothing"
    )

    export = _command(
        sub,
        common,
        "export",
        folders.export,
        "write your documents as JSON Lines",
        "Every document you own (text, file layout, title, source, category, metadata), one "
        "JSON object a line, for `kb import`. None is not an error: the output is empty.",
        "  kb export > kb.jsonl\n  kb export --workspace 6f1c... --output team.jsonl",
    )
    export.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    export.add_argument("--workspace", metavar="UUID", help="only this workspace's documents")
    export.add_argument("--category", help="only this category")

    load = _command(
        sub,
        common,
        "import",
        folders.import_,
        "add the documents of a `kb export`",
        "Add each line's document (as yours, private unless --workspace). The same text again "
        "in the same place is the same document, so an import may be run twice.",
        '  kb import kb.jsonl\n  kb export | kb --token "$BOB" import - --workspace 6f1c...',
    )
    load.add_argument("file", metavar="FILE", help="JSON Lines, or - for stdin")
    load.add_argument("--workspace", metavar="UUID", help="add them to this workspace")
    load.add_argument(
        "--no-wait", action="store_true", help="return once stored, before they are searchable"
    )

    spaces = _command(
        sub,
        common,
        "workspaces",
        commands.workspaces,
        "create workspaces, invite members, manage roles",
        "Workspaces share documents: owners invite people and manage roles, editors add and "
        "change documents, viewers read. Nobody is made a member: an owner invites, the "
        "invitee accepts (in person, with their own session's token).",
        '  kb workspaces list\n  kb workspaces create "Support team"\n'
        "  kb workspaces invite WORKSPACE USER_ID --role editor\n"
        "  kb workspaces invitations            (as the invitee: yours)\n"
        "  kb workspaces accept WORKSPACE       (or: decline WORKSPACE)\n"
        "  kb workspaces role WORKSPACE USER_ID --role viewer\n"
        "  kb workspaces members WORKSPACE\n  kb workspaces remove WORKSPACE USER_ID",
    )
    actions = spaces.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="your workspaces and your role", parents=[common])
    create = actions.add_parser("create", help="a new workspace you own", parents=[common])
    create.add_argument("name")
    members = actions.add_parser("members", help="who is in a workspace", parents=[common])
    members.add_argument("workspace", metavar="WORKSPACE")
    invite = actions.add_parser(
        "invite", help="offer someone a seat, or change the role offered", parents=[common]
    )
    invite.add_argument("workspace", metavar="WORKSPACE")
    invite.add_argument("user", metavar="USER_ID", help="their id (they see it with kb whoami)")
    invite.add_argument("--role", choices=limits.WORKSPACE_ROLES, default="viewer")
    invitations = actions.add_parser(
        "invitations", help="yours, or a workspace's open ones (owners)", parents=[common]
    )
    invitations.add_argument("workspace", metavar="WORKSPACE", nargs="?")
    accept = actions.add_parser(
        "accept", help="join a workspace you are invited to", parents=[common]
    )
    accept.add_argument("workspace", metavar="WORKSPACE")
    decline = actions.add_parser("decline", help="turn an invitation down", parents=[common])
    decline.add_argument("workspace", metavar="WORKSPACE")
    withdraw = actions.add_parser("withdraw", help="take an invitation back", parents=[common])
    withdraw.add_argument("workspace", metavar="WORKSPACE")
    withdraw.add_argument("user", metavar="USER_ID")
    role = actions.add_parser("role", help="give a member another role", parents=[common])
    role.add_argument("workspace", metavar="WORKSPACE")
    role.add_argument("user", metavar="USER_ID")
    role.add_argument("--role", choices=limits.WORKSPACE_ROLES, required=True)
    remove = actions.add_parser("remove", help="remove a member, or leave", parents=[common])
    remove.add_argument("workspace", metavar="WORKSPACE")
    remove.add_argument("user", metavar="USER_ID")

    agents = _command(
        sub,
        common,
        "agents",
        commands.agents,
        "let AI agents read or write, or revoke them",
        "An agent (an MCP client signed in through Supabase Auth's OAuth server) gets what you "
        "grant its client id: read (what you may read) or write (it also adds and changes "
        "documents where you may, and deletes only those it created). Only your own session "
        "changes grants, never an agent's token.",
        "  kb agents list\n  kb agents grant 3f2a... --access write --name 'Claude Desktop'\n"
        "  kb agents revoke 3f2a...",
    )
    grants = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    grants.add_parser("list", help="the agents you let in", parents=[common])
    grant = grants.add_parser("grant", help="let an agent read or write", parents=[common])
    grant.add_argument("client", metavar="CLIENT_ID", help="the agent's OAuth client id")
    grant.add_argument("--access", choices=("read", "write"), required=True)
    grant.add_argument("--name", help="a name to recognise it by")
    revoke = grants.add_parser("revoke", help="take an agent's access away", parents=[common])
    revoke.add_argument("client", metavar="CLIENT_ID")

    _command(
        sub,
        common,
        "whoami",
        commands.whoami,
        "who the token says you are",
        "The user id and email in your access token (read locally; the API checks the token).",
        "  kb whoami",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    token = args.token or os.environ.get("KB_ACCESS_TOKEN")
    if not token:
        warn(
            "no access token: pass --token or set KB_ACCESS_TOKEN "
            "(local stack: export KB_ACCESS_TOKEN=$(kb-stack user EMAIL))"
        )
        return AUTH
    run: Command = args.run
    try:
        with Api(args.api_url, token) as api:
            return run(api, args)
    except ApiError as error:
        warn(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        warn("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
