// Settings: one tab per route (`/settings/account`, `tokens`, `workspaces`, `users`); the
// users tab only for administrators.
import { Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { Tabs } from "antd";
import type { Me } from "../../api/types";
import { AccountTab } from "./AccountTab";
import { TokensTab } from "./TokensTab";
import { UsersTab } from "./UsersTab";
import { WorkspacesTab } from "./WorkspacesTab";

export default function SettingsPage({ me }: { me: Me }) {
  const location = useLocation();
  const navigate = useNavigate();
  const admin = me.user.role === "admin";
  const tab = location.pathname.replace(/^\/settings\/?/, "").split("/")[0] || "tokens";
  const items = [
    { key: "account", label: "Account" },
    { key: "tokens", label: "API tokens" },
    { key: "workspaces", label: "Workspaces" },
    ...(admin ? [{ key: "users", label: "Users" }] : []),
  ];
  return (
    <div data-testid="settings">
      <Tabs activeKey={tab} items={items} onChange={(key) => navigate(`/settings/${key}`)} />
      <Routes>
        <Route index element={<Navigate to="tokens" replace />} />
        <Route path="account" element={<AccountTab me={me} />} />
        <Route path="tokens" element={<TokensTab me={me} />} />
        <Route path="workspaces" element={<WorkspacesTab me={me} />} />
        <Route path="users" element={admin ? <UsersTab me={me} /> : <Navigate to="/settings/tokens" replace />} />
        <Route path="*" element={<Navigate to="/settings/tokens" replace />} />
      </Routes>
    </div>
  );
}
