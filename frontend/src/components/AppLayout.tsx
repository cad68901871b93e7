// The frame around every page: navigation, the live indicator, the user menu.
import type { ReactNode } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { Button, Dropdown, Layout, Menu, Space, Typography } from "antd";
import { DashboardOutlined, SettingOutlined, UnorderedListOutlined, UserOutlined } from "@ant-design/icons";
import { useQueryClient } from "@tanstack/react-query";
import { api } from "../api/client";
import type { Me } from "../api/types";
import { ConnectionIndicator } from "./ConnectionIndicator";

export function AppLayout({ me, children }: { me: Me; children: ReactNode }) {
  const location = useLocation();
  const navigate = useNavigate();
  const client = useQueryClient();
  const section = "/" + (location.pathname.split("/")[1] ?? "runs");
  const logout = async () => {
    await api.POST("/api/v1/auth/logout");
    client.clear();
    navigate("/login");
  };
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Layout.Header style={{ display: "flex", alignItems: "center", gap: 24, paddingInline: 24 }}>
        <Link to="/runs" style={{ color: "#fff", fontWeight: 600, fontSize: 18 }}>
          FlowO
        </Link>
        <Menu
          theme="dark"
          mode="horizontal"
          selectedKeys={[section]}
          style={{ flex: 1, minWidth: 0 }}
          items={[
            { key: "/runs", icon: <UnorderedListOutlined />, label: <Link to="/runs">Runs</Link> },
            { key: "/dashboard", icon: <DashboardOutlined />, label: <Link to="/dashboard">Dashboard</Link> },
            { key: "/settings", icon: <SettingOutlined />, label: <Link to="/settings">Settings</Link> },
          ]}
        />
        <Space size="large">
          <span style={{ background: "#fff", borderRadius: 4, padding: "2px 8px", lineHeight: "22px" }}>
            <ConnectionIndicator />
          </span>
          <Dropdown menu={{ items: [{ key: "logout", label: "Log out", onClick: logout }] }}>
            <Button type="text" style={{ color: "#fff" }} icon={<UserOutlined />} data-testid="user-menu">
              <Typography.Text style={{ color: "#fff" }}>{me.user.email}</Typography.Text>
            </Button>
          </Dropdown>
        </Space>
      </Layout.Header>
      <Layout.Content style={{ padding: 24 }}>{children}</Layout.Content>
    </Layout>
  );
}
