"""Interface strings of the browser app in Chinese (default) and English.

>>> t("app_title")
'网格规划'
>>> t("app_title", "en")
'Grid planning'
>>> t("moved_n", "en", n=3, grid="G01")
'Moved 3 building(s) to G01'

Missing English strings fall back to Chinese; a missing key returns the key itself (so a typo
shows up in the interface instead of crashing it).
"""
from __future__ import annotations

LANGS: dict[str, str] = {"zh": "中文", "en": "English"}
DEFAULT_LANG = "zh"

STRINGS: dict[str, dict[str, str]] = {
    # --- frame and pages
    "app_title": {"zh": "网格规划", "en": "Grid planning"},
    "app_caption": {"zh": "社区网格划分与15分钟红色服务圈", "en": "Community grids and the 15-minute red service circle"},
    "page_data": {"zh": "数据", "en": "Data"},
    "page_map": {"zh": "地图与编辑", "en": "Map & edit"},
    "page_coverage": {"zh": "服务覆盖", "en": "Coverage"},
    "page_versions": {"zh": "方案版本", "en": "Versions"},
    "page_export": {"zh": "导出", "en": "Export"},
    "language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "dataset": {"zh": "数据集", "en": "Dataset"},
    "no_dataset": {"zh": "尚未载入数据。请在“数据”页载入。", "en": "No dataset loaded. Load one on the Data page."},
    "no_plan": {"zh": "尚无网格方案。请先划分网格。", "en": "No grid plan yet. Partition first."},
    "plan": {"zh": "当前方案", "en": "Current plan"},
    # --- data page
    "load_title": {"zh": "载入数据", "en": "Load a dataset"},
    "source": {"zh": "数据来源", "en": "Source"},
    "src_sample": {"zh": "示例城区（内置）", "en": "Bundled sample city"},
    "src_upload": {"zh": "上传文件", "en": "Upload files"},
    "src_path": {"zh": "本机路径（文件夹或 GeoPackage）", "en": "Path on this machine (folder or GeoPackage)"},
    "upload_help": {"zh": "图层文件：communities/compounds/buildings/roads/stations（.geojson .gpkg .fgb，Shapefile 请打包为 .zip；楼栋表 .csv/.xlsx 需含经度/纬度或 WKT 列）；每个文件不超过 {mb} MB",
                    "en": "Layer files: communities/compounds/buildings/roads/stations (.geojson .gpkg .fgb, Shapefiles zipped; tables .csv/.xlsx with 经度/纬度 or WKT columns); at most {mb} MB each"},
    "path_label": {"zh": "路径", "en": "Path"},
    "coord_system": {"zh": "坐标系（数据采集底图）", "en": "Coordinate system (basemap the data was digitised on)"},
    "cs_wgs84": {"zh": "按文件声明（WGS 84 / CGCS2000 等）", "en": "As declared in the files (WGS 84 / CGCS2000 …)"},
    "cs_gcj02": {"zh": "高德/腾讯（GCJ-02）", "en": "Amap/Tencent (GCJ-02)"},
    "cs_bd09": {"zh": "百度（BD-09）", "en": "Baidu (BD-09)"},
    "column_map": {"zh": "列名映射（可选，每行一个：原列名=字段，如 住户=households）",
                   "en": "Column mapping (optional, one per line: header=field, e.g. HH=households)"},
    "load_button": {"zh": "载入", "en": "Load"},
    "loaded": {"zh": "已载入：{name}", "en": "Loaded: {name}"},
    "load_failed": {"zh": "数据有 {n} 个问题，未载入。请按下表修正后重试：", "en": "The dataset has {n} problem(s) and was not loaded. Fix them and try again:"},
    "load_warnings": {"zh": "载入时的提示（已自动处理）：", "en": "Notes from loading (handled automatically):"},
    "too_big": {"zh": "文件 {name} 为 {mb:.1f} MB，超过上限 {limit} MB", "en": "{name} is {mb:.1f} MB, above the {limit} MB limit"},
    "bad_file_type": {"zh": "不支持的文件类型：{name}", "en": "Unsupported file type: {name}"},
    "no_files": {"zh": "请选择要上传的文件", "en": "Choose files to upload"},
    "col_severity": {"zh": "级别", "en": "Severity"},
    "col_layer": {"zh": "图层", "en": "Layer"},
    "col_feature": {"zh": "要素", "en": "Feature"},
    "col_problem": {"zh": "问题", "en": "Problem"},
    "col_fix": {"zh": "修正方法", "en": "How to fix"},
    "sev_error": {"zh": "错误", "en": "error"},
    "sev_warning": {"zh": "警告", "en": "warning"},
    "layers_overview": {"zh": "图层概况", "en": "Layers"},
    "features": {"zh": "要素数", "en": "Features"},
    "crs": {"zh": "坐标系（计算用 / 原数据）", "en": "CRS (computing / source)"},
    # --- rule and partition
    "rule": {"zh": "网格规模规则", "en": "Grid size rule"},
    "min_hh": {"zh": "户数下限", "en": "Min households"},
    "max_hh": {"zh": "户数上限", "en": "Max households"},
    "min_pp": {"zh": "人口下限", "en": "Min persons"},
    "max_pp": {"zh": "人口上限", "en": "Max persons"},
    "mode": {"zh": "判定方式", "en": "Mode"},
    "mode_either": {"zh": "户数或人口满足其一", "en": "households or persons"},
    "mode_households": {"zh": "仅户数", "en": "households only"},
    "mode_persons": {"zh": "仅人口", "en": "persons only"},
    "mode_both": {"zh": "户数与人口均满足", "en": "households and persons"},
    "seed": {"zh": "随机种子", "en": "Seed"},
    "code_width": {"zh": "网格序号位数", "en": "Grid serial digits"},
    "partition": {"zh": "重新划分网格", "en": "Partition again"},
    "partition_done": {"zh": "已划分：{grids} 个网格，其中 {ok} 个合规", "en": "Partitioned: {grids} grids, {ok} compliant"},
    "partitioning": {"zh": "正在划分网格…", "en": "Partitioning…"},
    # --- map page
    "community_focus": {"zh": "显示社区（楼栋详图）", "en": "Community in detail"},
    "all_communities": {"zh": "全部社区（较慢）", "en": "All communities (slower)"},
    "tool": {"zh": "地图点击", "en": "Map click"},
    "tool_select": {"zh": "选择", "en": "Select"},
    "tool_paint": {"zh": "涂刷到目标网格", "en": "Paint into target grid"},
    "tool_station": {"zh": "添加驿站", "en": "Add a station"},
    "unit": {"zh": "选取单位", "en": "Pick"},
    "unit_building": {"zh": "楼栋", "en": "Building"},
    "unit_compound": {"zh": "整个小区", "en": "Whole compound"},
    "target_grid": {"zh": "目标网格", "en": "Target grid"},
    "new_grid": {"zh": "（新网格 {code}）", "en": "(new grid {code})"},
    "selection": {"zh": "当前选择", "en": "Selection"},
    "selection_none": {"zh": "未选择。点击楼栋，或用左侧绘图工具画多边形/矩形圈选。",
                       "en": "Nothing selected. Click a building, or draw a polygon/rectangle with the draw tools."},
    "selection_info": {"zh": "{n} 栋楼，{hh} 户，{pp} 人；所在网格：{grids}", "en": "{n} building(s), {hh} households, {pp} persons; in grid(s): {grids}"},
    "move_to": {"zh": "移到目标网格", "en": "Move to target grid"},
    "clear_selection": {"zh": "清除选择", "en": "Clear selection"},
    "moved_n": {"zh": "已将 {n} 栋楼移到 {grid}", "en": "Moved {n} building(s) to {grid}"},
    "move_noop": {"zh": "所选楼栋已在 {grid} 中，方案未改变", "en": "The selection is already in {grid}; the plan is unchanged"},
    "merge_into": {"zh": "合并网格 → {grid}", "en": "Merge into {grid}"},
    "grid_option": {"zh": "{grid} · {hh} 户", "en": "{grid} · {hh} hh"},
    "undo": {"zh": "撤销", "en": "Undo"},
    "redo": {"zh": "重做", "en": "Redo"},
    "merge": {"zh": "合并网格", "en": "Merge grids"},
    "merge_keep": {"zh": "保留网格", "en": "Keep"},
    "merge_absorb": {"zh": "并入的网格", "en": "Absorb"},
    "split": {"zh": "拆分网格", "en": "Split grid"},
    "split_parts": {"zh": "拆成几个（0 = 自动）", "en": "Parts (0 = automatic)"},
    "lock": {"zh": "锁定", "en": "Lock"},
    "unlock": {"zh": "解锁", "en": "Unlock"},
    "locked": {"zh": "已锁定", "en": "locked"},
    "reoptimise": {"zh": "重新优化社区（保留锁定网格）", "en": "Re-optimise community (keep locked grids)"},
    "grid_ops": {"zh": "网格操作", "en": "Grid operations"},
    "grid": {"zh": "网格", "en": "Grid"},
    "selected_grid": {"zh": "选中网格", "en": "Selected grid"},
    "edit_failed": {"zh": "操作未执行：{msg}", "en": "Not done: {msg}"},
    "unsaved": {"zh": "有未保存的修改（草稿已自动保存，下次打开时可恢复）",
                "en": "Unsaved changes (kept as a draft; the next visit offers it back)"},
    "draft_found": {"zh": "发现未保存的修改：{label}（{when}，{grids} 个网格）。恢复后可继续编辑。",
                    "en": "Unsaved changes were found: {label} ({when}, {grids} grids). Restore them to go on."},
    "draft_restore": {"zh": "恢复草稿", "en": "Restore the draft"},
    "draft_discard": {"zh": "丢弃草稿", "en": "Discard the draft"},
    "draft_restored": {"zh": "已恢复草稿：{label}", "en": "Draft restored: {label}"},
    "upload_gone": {"zh": "上传的数据已不在服务器内存中（服务器重启过），请在“数据”页重新上传。",
                    "en": "The uploaded data is no longer in the server's memory (it restarted); upload it again on the Data page."},
    "basemap": {"zh": "底图", "en": "Basemap"},
    "basemap_help": {"zh": "默认不加载任何在线瓦片，以数据中的道路和名称为底图。可填写内网瓦片服务（天地图、GeoServer 等）地址，浏览器只会访问该地址。",
                     "en": "No online tiles by default: the dataset's roads and names are the base. You may give an intranet tile service (Tianditu, GeoServer …); the browser then contacts that host only."},
    "basemap_url": {"zh": "瓦片地址（XYZ 模板，含 {z}/{x}/{y}）", "en": "Tile URL (XYZ template with {z}/{x}/{y})"},
    "basemap_crs": {"zh": "瓦片坐标系", "en": "Tile coordinate system"},
    "basemap_crs_wgs84": {"zh": "WGS-84 / CGCS2000（天地图、GeoServer 等）", "en": "WGS-84 / CGCS2000 (Tianditu, GeoServer …)"},
    "basemap_crs_gcj02": {"zh": "GCJ-02（高德/腾讯底图）", "en": "GCJ-02 (Amap/Tencent tiles)"},
    "basemap_attribution": {"zh": "版权说明（可选）", "en": "Attribution (optional)"},
    "basemap_apply": {"zh": "应用底图", "en": "Use this basemap"},
    "basemap_clear": {"zh": "不用底图", "en": "No basemap"},
    "basemap_set": {"zh": "底图：{host}", "en": "Basemap: {host}"},
    "basemap_bad": {"zh": "瓦片地址须以 http:// 或 https:// 开头，并含 {z}、{x}、{y}", "en": "The tile URL must start with http:// or https:// and contain {z}, {x} and {y}"},
    "check_ok": {"zh": "检查通过：此次修改没有使任何网格变为不合规。", "en": "Check passed: this edit made no grid non-compliant."},
    "check_broken": {"zh": "此次修改使以下网格不合规：", "en": "This edit made these grids non-compliant:"},
    "check_fixed": {"zh": "已变为合规：{grids}", "en": "Now compliant: {grids}"},
    "history": {"zh": "操作记录", "en": "History"},
    "grid_table": {"zh": "网格一览（点击一行在地图上定位）", "en": "Grids (click a row to show it on the map)"},
    "summary_grids": {"zh": "网格", "en": "Grids"},
    "summary_compliant": {"zh": "合规", "en": "Compliant"},
    "summary_contiguous": {"zh": "连续", "en": "Contiguous"},
    "summary_households": {"zh": "户数", "en": "Households"},
    "summary_coverage": {"zh": "{m}分钟覆盖户数", "en": "Households within {m} min"},
    "summary_coverage_pct": {"zh": "覆盖率", "en": "Covered"},
    "col_grid": {"zh": "网格编码", "en": "Grid code"},
    "col_community": {"zh": "社区", "en": "Community"},
    "col_households": {"zh": "户数", "en": "Households"},
    "col_persons": {"zh": "人口", "en": "Persons"},
    "col_deviation": {"zh": "户数偏差", "en": "Households vs. target"},
    "col_party": {"zh": "党员", "en": "Party members"},
    "col_buildings": {"zh": "楼栋", "en": "Buildings"},
    "col_compounds_split": {"zh": "拆分小区", "en": "Split compounds"},
    "col_pp": {"zh": "紧凑度", "en": "Compactness"},
    "col_contiguous": {"zh": "连续", "en": "Contiguous"},
    "col_compliant": {"zh": "合规", "en": "Compliant"},
    "col_status": {"zh": "状态", "en": "Status"},
    "col_reason": {"zh": "不合规原因", "en": "Why not compliant"},
    "col_coverage": {"zh": "覆盖率%", "en": "Covered %"},
    "col_locked": {"zh": "锁定", "en": "Locked"},
    "ok": {"zh": "合规", "en": "compliant"},
    "not_ok": {"zh": "不合规", "en": "not compliant"},
    "map_legend_hint": {"zh": "图层可在地图右上角开关；图例可点击标题收起；悬停查看详情。", "en": "Toggle layers at the top right of the map; click the legend title to fold it; hover for details."},
    # --- coverage
    "stations_on": {"zh": "启用的站点", "en": "Active stations"},
    "minutes": {"zh": "步行时间圈（分钟）", "en": "Walking bands (minutes)"},
    "speed": {"zh": "步行速度 km/h", "en": "Walking speed km/h"},
    "counted_kinds": {"zh": "计入覆盖的站点类型", "en": "Station kinds that count"},
    "show_isochrones": {"zh": "显示等时圈", "en": "Show walking bands"},
    "show_coverage": {"zh": "显示服务覆盖", "en": "Show coverage"},
    "added_stations": {"zh": "新增站点（假设）", "en": "Added stations (what-if)"},
    "station_added": {"zh": "已在点击处添加站点 {sid}", "en": "Added station {sid} where you clicked"},
    "clear_added": {"zh": "清除新增站点", "en": "Remove added stations"},
    "suggest": {"zh": "建议新增站点", "en": "Suggest new stations"},
    "suggest_k": {"zh": "新增站点数", "en": "New stations"},
    "suggest_button": {"zh": "计算建议站址", "en": "Find sites"},
    "suggest_add": {"zh": "采纳建议站址", "en": "Adopt the suggested sites"},
    "coverage_summary": {"zh": "覆盖 {ch} / {hh} 户（{pct}%），未覆盖楼栋 {ub} 栋，未全覆盖三无小区 {sw} 个",
                         "en": "{ch} of {hh} households covered ({pct}%), {ub} uncovered buildings, {sw} 三无 compounds not fully covered"},
    "coverage_none": {"zh": "数据缺少道路或站点图层，无法计算步行覆盖。", "en": "The dataset has no roads or stations: walking coverage is not available."},
    "by_community": {"zh": "按社区", "en": "By community"},
    "by_grid": {"zh": "按网格", "en": "By grid"},
    "by_station": {"zh": "按站点", "en": "By station"},
    "uncovered_sanwu": {"zh": "未全覆盖的三无小区", "en": "三无 compounds not fully covered"},
    "coverage_delta": {"zh": "较原有站点 {sign}{d} 户", "en": "{sign}{d} households vs. the existing stations"},
    # --- versions
    "save_version": {"zh": "保存当前方案为版本", "en": "Save the current plan as a version"},
    "version_name": {"zh": "版本名称", "en": "Version name"},
    "version_note": {"zh": "备注", "en": "Note"},
    "save": {"zh": "保存", "en": "Save"},
    "saved": {"zh": "已保存版本 {vid}：{name}", "en": "Saved version {vid}: {name}"},
    "versions": {"zh": "已保存的版本", "en": "Saved versions"},
    "no_versions": {"zh": "还没有保存的版本。", "en": "No version saved yet."},
    "project_file": {"zh": "项目文件：{path}", "en": "Project file: {path}"},
    "open_version": {"zh": "打开版本", "en": "Open version"},
    "open": {"zh": "打开", "en": "Open"},
    "opened": {"zh": "已打开版本：{name}", "en": "Opened version: {name}"},
    "compare": {"zh": "比较两个版本", "en": "Compare two versions"},
    "compare_current": {"zh": "（当前方案）", "en": "(current plan)"},
    "compare_a": {"zh": "版本 A", "en": "Version A"},
    "compare_b": {"zh": "版本 B", "en": "Version B"},
    "compare_moved": {"zh": "{n} 栋楼换了网格；{g} 个网格有变化", "en": "{n} building(s) changed grid; {g} grid(s) changed"},
    "moved_buildings": {"zh": "换网格的楼栋", "en": "Buildings that moved"},
    "changed_grids": {"zh": "变化的网格", "en": "Grids that changed"},
    "status_changed": {"zh": "有变化", "en": "changed"},
    "status_added": {"zh": "新增", "en": "added"},
    "status_removed": {"zh": "已取消", "en": "removed"},
    "status_unchanged": {"zh": "未变", "en": "unchanged"},
    "import_assignment": {"zh": "导入楼栋-网格对照表（CSV：building_id, grid_id）",
                          "en": "Import a building → grid table (CSV: building_id, grid_id)"},
    "import_button": {"zh": "导入为当前方案", "en": "Make it the current plan"},
    "imported": {"zh": "已导入 {n} 栋楼的网格划分", "en": "Imported the grids of {n} buildings"},
    "import_bad": {"zh": "对照表无法使用：{msg}", "en": "The table cannot be used: {msg}"},
    "version_mismatch": {"zh": "该版本与当前数据不一致：{msg}", "en": "This version does not match the dataset: {msg}"},
    "save_conflict": {"zh": "未保存：{msg}", "en": "Not saved: {msg}"},
    "audit_added": {"zh": "新增", "en": "added"},
    "audit_removed": {"zh": "撤销", "en": "removed"},
    "audit_changed": {"zh": "调整", "en": "changed"},
    # --- export
    "export_title": {"zh": "导出当前方案", "en": "Export the current plan"},
    "export_prepare": {"zh": "生成", "en": "Prepare"},
    "export_download": {"zh": "下载", "en": "Download"},
    "export_poster": {"zh": "挂图（PDF/PNG）", "en": "Wall poster (PDF/PNG)"},
    "export_html": {"zh": "离线交互地图（HTML）", "en": "Offline interactive map (HTML)"},
    "export_data": {"zh": "网格数据（GeoJSON / GeoPackage / Shapefile）", "en": "Grid data (GeoJSON / GeoPackage / Shapefile)"},
    "export_ledger": {"zh": "网格台账（Excel / CSV）", "en": "Grid ledger (Excel / CSV)"},
    "export_assignment": {"zh": "楼栋-网格对照表（CSV）", "en": "Building → grid table (CSV)"},
    "export_hierarchy": {"zh": "党组织层级表（街道→社区→小区→楼栋）", "en": "Party hierarchy (street → community → compound → building)"},
    "include_personal": {"zh": "包含党员人数（个人信息，仅限内部使用）", "en": "Include party-member counts (personal data, internal use only)"},
    "paper": {"zh": "纸张", "en": "Paper"},
    "orientation": {"zh": "方向", "en": "Orientation"},
    "portrait": {"zh": "纵向", "en": "portrait"},
    "landscape": {"zh": "横向", "en": "landscape"},
    "format": {"zh": "格式", "en": "Format"},
    "export_unavailable": {"zh": "此导出功能尚不可用（{what}）。", "en": "This export is not available yet ({what})."},
    "export_failed": {"zh": "导出失败：{msg}", "en": "Export failed: {msg}"},
    # --- reason codes of gridplan.metrics
    "reason_spans_communities": {"zh": "网格跨越多个社区", "en": "spans several communities"},
    "reason_not_contiguous": {"zh": "网格不连续（分成多块）", "en": "not contiguous (several pieces)"},
    "reason_building_over_bound": {"zh": "单栋楼超过上限", "en": "one building exceeds the upper bound"},
    "reason_community_too_small": {"zh": "社区总户数不足一个网格", "en": "the community is too small for one grid"},
    "reason_community_in_gap": {"zh": "社区总户数无法整分为合规网格（介于上下限之间）",
                                "en": "the community total cannot be divided into compliant grids"},
    "reason_island_too_small": {"zh": "社区飞地片区规模不足一个网格", "en": "a detached part of the community is too small"},
    "reason_too_few_households": {"zh": "户数不足", "en": "too few households"},
    "reason_too_many_households": {"zh": "户数超过上限", "en": "too many households"},
    "reason_too_few_persons": {"zh": "人口不足", "en": "too few persons"},
    "reason_too_many_persons": {"zh": "人口超过上限", "en": "too many persons"},
    # --- grid stations (郁心站), gridplan.gridstations
    "gs_station_name": {"zh": "{code}网格郁心站", "en": "Grid {code} service point"},
    # --- grid staff, gridplan.staff
    # --- ledger sheets and notes (gridplan.export)
    "sheet_chain": {"zh": "五级组织", "en": "Party chain"},
    "sheet_central": {"zh": "党员中心户", "en": "Party-member households"},
    "sheet_central_buildings": {"zh": "党员中心户缺口楼栋", "en": "Buildings short"},
    "sheet_staff": {"zh": "网格员", "en": "Grid staff"},
    "sheet_staff_check": {"zh": "网格员核查", "en": "Staff check"},
    "sheet_mobile": {"zh": "流动郁心站", "en": "Mobile stops"},
    "sheet_mobile_schedule": {"zh": "流动站排班", "en": "Mobile schedule"},
    "sheet_sanwu": {"zh": "三无小区治理", "en": "Three-none compounds"},
    "violation_no_leader": {"zh": "缺少网格长", "en": "no grid leader"},
    "violation_several_leaders": {"zh": "网格长多于一名", "en": "several grid leaders"},
    "violation_too_many_grids": {"zh": "兼任网格长过多", "en": "leads too many grids"},
    "violation_unknown_grid": {"zh": "网格不存在", "en": "unknown grid"},
    "violation_no_grid": {"zh": "未分配网格", "en": "no grid"},
    "note_central": {"zh": "党员中心户", "en": "Party-member households"},
    "note_central_text": {"zh": "每 {per} 户设 1 名党员中心户，共需 {need} 名；党员数不能满足的网格 {short} 个",
                          "en": "one per {per} households, {need} needed; {short} grid(s) without enough party members"},
    "note_staff": {"zh": "网格员", "en": "Grid staff"},
    "note_staff_text": {"zh": "{n} 人；核查发现 {v} 个问题（每个网格 1 名网格长，每人至多兼任 {max} 个网格）",
                        "en": "{n} persons; {v} problem(s) (one leader per grid, at most {max} grid(s) per leader)"},
    "note_mobile": {"zh": "流动郁心站", "en": "Mobile stops"},
    "note_mobile_text": {"zh": "步行 {m} 分钟（{d} 米）内可达的住户，按星期统计", "en": "households within a {m}-minute walk ({d} m), per weekday"},
    "note_sanwu": {"zh": "三无小区治理", "en": "Three-none compounds"},
    "note_sanwu_text": {"zh": "{since} 的三无小区 {sanwu_since} 个：至 {until} 已达三有 {became_sanyou} 个，部分具备 {partial} 个，"
                                "仍为三无 {remain} 个；其中有红色物业 {red_property} 个",
                        "en": "{sanwu_since} three-none compounds on {since}: by {until} {became_sanyou} three-have, "
                              "{partial} partly, {remain} still three-none; {red_property} with a red property company"},
    "poster_leader": {"zh": "网格长 {name} {phone}", "en": "Leader {name} {phone}"},
    "staff_no_leader": {"zh": "网格 {grid} 没有网格长", "en": "grid {grid} has no grid leader"},
    "staff_several_leaders": {"zh": "网格 {grid} 有 {n} 名网格长（{names}），应为 1 名",
                              "en": "grid {grid} has {n} grid leaders ({names}); it should have one"},
    "staff_too_many_grids": {"zh": "{name} 担任 {n} 个网格的网格长（上限 {max} 个）：{grids}",
                             "en": "{name} leads {n} grids (at most {max}): {grids}"},
    "staff_unknown_grid": {"zh": "{name} 所在网格 {grid} 不在当前方案中", "en": "{name}'s grid {grid} is not in the plan"},
    "staff_no_grid": {"zh": "{name} 只登记了社区，未分配网格", "en": "{name} has a community but no grid"},
    "staff_no_grid_gone": {"zh": "{name} 原网格 {grid} 已不存在，需重新分配", "en": "{name}'s grid {grid} no longer exists; assign a new one"},
    # --- the five-level party chain, gridplan.chain
    "chain_level_street": {"zh": "街道党工委", "en": "Street working committee"},
    "chain_level_community": {"zh": "社区党组织", "en": "Community party organisation"},
    "chain_level_compound": {"zh": "小区党支部", "en": "Compound party branch"},
    "chain_level_building": {"zh": "楼栋党小组", "en": "Building party group"},
    "chain_level_central": {"zh": "党员中心户", "en": "Party-member households"},
    "chain_org_street": {"zh": "{name}党工委", "en": "{name} working committee"},
    "chain_org_community": {"zh": "{name}党组织", "en": "{name} party organisation"},
    "chain_org_compound": {"zh": "{name}党支部", "en": "{name} party branch"},
    "chain_org_building": {"zh": "{name}党小组", "en": "{name} party group"},
    "chain_org_central": {"zh": "党员中心户 ×{n}", "en": "party-member households ×{n}"},
    "chain_no_street": {"zh": "（未填街道）", "en": "(no street)"},
    "chain_no_compound": {"zh": "（不属于小区的楼栋）", "en": "(buildings outside compounds)"},
    # --- 三无 → 三有, gridplan.sanwu
    "sanwu_status_sanwu": {"zh": "三无", "en": "three-none"},
    "sanwu_status_partial": {"zh": "部分具备", "en": "partly"},
    "sanwu_status_sanyou": {"zh": "三有", "en": "three-have"},
    "sanwu_status_unknown": {"zh": "未登记", "en": "not recorded"},
    "sanwu_red_property": {"zh": "红色物业", "en": "red property company"},
    "sanwu_chart_y": {"zh": "小区数", "en": "Compounds"},
    "sanwu_chart_title": {"zh": "{since} 的 {n} 个三无小区治理进展", "en": "The {n} three-none compounds of {since}: progress"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    # --- household rosters (gridplan.roster) and the data page's roster section
    "roster_title": {"zh": "住户台账 → 楼栋户数", "en": "Household rosters → building counts"},
    "roster_help": {"zh": "上传社区住户台账（实有人口，每人一行，按小区/楼栋/单元/户室登记；.xlsx .xls .csv .txt），按台账统计各楼栋的户数、人数和党员数。姓名和身份证号只在本机内存中使用，页面和输出只显示脱敏后的内容。",
                    "en": "Upload the community's household rosters (one row per person, addressed by compound/building/unit/room; .xlsx .xls .csv .txt) to count households, persons and party members per building. Names and ID numbers stay in memory; the page and the outputs show them masked."},
    "roster_upload": {"zh": "台账文件（每个不超过 {mb} MB）", "en": "Roster files (at most {mb} MB each)"},
    "roster_match": {"zh": "匹配台账", "en": "Match the rosters"},
    "roster_apply": {"zh": "把台账户数用作当前数据", "en": "Use the roster counts as the current dataset"},
    "roster_undo": {"zh": "撤销（恢复原数据）", "en": "Undo (restore the previous dataset)"},
    "roster_applied": {"zh": "已按台账更新 {n} 栋楼的户数、人数和党员数；网格将重新划分。",
                       "en": "Counts of {n} buildings now come from the rosters; the grids are partitioned again."},
    "roster_undone": {"zh": "已恢复应用台账之前的数据。", "en": "The dataset from before the rosters is back."},
    "roster_failed": {"zh": "台账无法读取：{msg}", "en": "The roster cannot be read: {msg}"},
    "roster_unmatched_title": {"zh": "未计入的行（未匹配、歧义、重复；已脱敏）",
                               "en": "Rows not counted (unmatched, ambiguous, duplicate; masked)"},
    "roster_buildings_title": {"zh": "各楼栋的台账数（与原数据对比）", "en": "Roster counts per building (and the counts before)"},
    "roster_m_rows": {"zh": "台账行数", "en": "Rows"},
    "roster_m_matched": {"zh": "已匹配", "en": "Matched"},
    "roster_m_unmatched": {"zh": "未匹配", "en": "Unmatched"},
    "roster_m_ambiguous": {"zh": "歧义", "en": "Ambiguous"},
    "roster_m_duplicate": {"zh": "重复", "en": "Duplicates"},
    "roster_m_buildings": {"zh": "匹配楼栋", "en": "Buildings matched"},
    "roster_m_households": {"zh": "台账户数", "en": "Households"},
    "roster_m_persons": {"zh": "台账人数", "en": "Persons"},
    "roster_cli_summary": {"zh": "✓ 台账 {rows} 行：已匹配 {matched_rows}，未匹配 {unmatched_rows}，歧义 {ambiguous_rows}，重复 {duplicate_rows}；{buildings_matched} 栋楼 {households} 户 {persons} 人 {party_members} 名党员（{seconds:.1f} s）",
                           "en": "✓ {rows} roster rows: {matched_rows} matched, {unmatched_rows} unmatched, {ambiguous_rows} ambiguous, {duplicate_rows} duplicate; {buildings_matched} buildings, {households} households, {persons} persons, {party_members} party members ({seconds:.1f} s)"},
    "roster_status_matched": {"zh": "已匹配", "en": "matched"},
    "roster_status_unmatched": {"zh": "未匹配", "en": "unmatched"},
    "roster_status_ambiguous": {"zh": "歧义", "en": "ambiguous"},
    "roster_status_duplicate": {"zh": "重复", "en": "duplicate"},
    "roster_reason_missing_compound": {"zh": "没有填写小区", "en": "no compound (小区) given"},
    "roster_reason_missing_building": {"zh": "没有填写楼栋", "en": "no building (楼栋) given"},
    "roster_reason_no_compounds_layer": {"zh": "数据集没有小区图层，无法按小区匹配", "en": "the dataset has no compounds layer"},
    "roster_reason_unknown_community": {"zh": "数据中没有社区“{detail}”", "en": "no community “{detail}” in the dataset"},
    "roster_reason_community_ambiguous": {"zh": "社区名称对应多个社区：{detail}", "en": "the community name fits several communities: {detail}"},
    "roster_reason_unknown_compound": {"zh": "数据中没有小区“{detail}”", "en": "no compound “{detail}” in the dataset"},
    "roster_reason_compound_elsewhere": {"zh": "该小区不在所填社区内（数据中它属于：{detail}）", "en": "the compound is not in the given community (in the dataset it is in: {detail})"},
    "roster_reason_compound_ambiguous": {"zh": "同名小区有多个：{detail}（请填写社区）", "en": "several compounds have this name: {detail} (give the community)"},
    "roster_reason_no_building_numbers": {"zh": "小区 {detail} 的楼栋在数据中没有楼栋号（building_no）", "en": "the buildings of compound {detail} have no building_no in the dataset"},
    "roster_reason_unknown_building": {"zh": "小区内没有这个楼栋：{detail}", "en": "no such building in the compound: {detail}"},
    "roster_reason_building_ambiguous": {"zh": "数据中多栋楼使用同一楼栋号：{detail}", "en": "several buildings carry this number in the dataset: {detail}"},
    "roster_reason_duplicate_id": {"zh": "身份证号与 {detail} 重复，只计一次", "en": "same ID number as {detail}; counted once"},
    "roster_id_checksum": {"zh": "校验位错误", "en": "wrong check digit"},
    "roster_id_format": {"zh": "格式或出生日期错误", "en": "malformed (length, characters or birth date)"},
    "roster_id_old15": {"zh": "15位旧号码", "en": "old 15-digit number"},
    "roster_id_numeric": {"zh": "以数字格式保存，末几位可能已丢失", "en": "stored as a number: the last digits may be lost"},
    "roster_source_roster": {"zh": "台账", "en": "roster"},
    "roster_source_input": {"zh": "原数据", "en": "input"},
    "roster_source_estimate": {"zh": "估算", "en": "estimate"},
    "roster_sum_item": {"zh": "项目", "en": "Item"},
    "roster_sum_value": {"zh": "数值", "en": "Value"},
    "roster_sum_rows": {"zh": "台账行数", "en": "Roster rows"},
    "roster_sum_matched_rows": {"zh": "已匹配行数", "en": "Matched rows"},
    "roster_sum_unmatched_rows": {"zh": "未匹配行数", "en": "Unmatched rows"},
    "roster_sum_ambiguous_rows": {"zh": "歧义行数", "en": "Ambiguous rows"},
    "roster_sum_duplicate_rows": {"zh": "重复行数（身份证号重复，只计一次）", "en": "Duplicate rows (repeated ID, counted once)"},
    "roster_sum_buildings_matched": {"zh": "匹配楼栋数", "en": "Buildings matched"},
    "roster_sum_households": {"zh": "户数", "en": "Households"},
    "roster_sum_persons": {"zh": "人数", "en": "Persons"},
    "roster_sum_party_members": {"zh": "党员数（中共党员、预备党员）", "en": "Party members"},
    "roster_sum_resident": {"zh": "常住人口", "en": "Residents (常住)"},
    "roster_sum_floating": {"zh": "流动人口", "en": "Floating (流动)"},
    "roster_sum_lodger": {"zh": "寄住人口", "en": "Lodgers (寄住)"},
    "roster_sum_invalid_ids": {"zh": "身份证号校验未通过（仍计入）", "en": "ID numbers failing the check (still counted)"},
    "roster_sum_rows_without_room": {"zh": "缺少户室的已匹配行", "en": "Matched rows without a room"},
    "roster_sum_buildings_without_rows": {"zh": "所涉小区中台账未列出的楼栋（保留原户数）", "en": "Buildings of these compounds no row names (counts kept)"},
    "roster_sum_sheet": {"zh": "读取：{where}", "en": "Read: {where}"},
    "roster_sum_sheet_value": {"zh": "表头第 {header} 行，{rows} 行数据；列：{columns}", "en": "header row {header}, {rows} data rows; columns: {columns}"},
    "roster_sum_warning": {"zh": "提示", "en": "Note"},
    "roster_sum_privacy_key": {"zh": "个人信息", "en": "Personal data"},
    "roster_sum_privacy": {"zh": "本报告中姓名只保留姓，身份证号只保留前6位和后4位；输出数据集不含姓名和身份证号。",
                           "en": "Names are reduced to the surname and ID numbers to their first 6 and last 4 digits; the output dataset holds neither."},
    # --- the party chain page (app_pages/chain.py, issue 15)
    "page_chain": {"zh": "党建链条", "en": "Party chain"},
    "pc_map_hint": {"zh": "地图：网格提示框列出网格长和网格员（电话已脱敏）；绿色圆点为建议郁心站站址；流动郁心站只显示所选星期出勤的站点。",
                    "en": "Map: grid tooltips name the grid leader and workers (phones masked); green dots are suggested grid service points; only the mobile stops of the chosen weekday are shown."},
    "pc_tree": {"zh": "五级组织链条", "en": "The five-level chain"},
    "pc_level": {"zh": "层级", "en": "Level"},
    "pc_nodes": {"zh": "数量", "en": "Nodes"},
    "pc_with_org": {"zh": "已建组织", "en": "With a party body"},
    "pc_totals": {"zh": "合计 {hh} 户、{pp} 人、党员 {pm} 名，需设党员中心户 {need} 户",
                  "en": "In all {hh} households, {pp} persons, {pm} party members; {need} party-member households needed"},
    "pc_root": {"zh": "全部", "en": "All"},
    "pc_children": {"zh": "下级：{level}（{n} 个）", "en": "Below: {level} ({n})"},
    "pc_hh": {"zh": "户", "en": " hh"},
    "pc_more_nodes": {"zh": "其余 {n} 个", "en": "{n} more"},
    "pc_show_node": {"zh": "在地图上显示", "en": "Show on the map"},
    "pc_name": {"zh": "名称", "en": "Name"},
    "pc_org": {"zh": "党组织", "en": "Party body"},
    "pc_central_need": {"zh": "党员中心户需设数", "en": "Party-member households needed"},
    "pc_tab_staff": {"zh": "网格员", "en": "Grid staff"},
    "pc_tab_gs": {"zh": "郁心站", "en": "Grid service points"},
    "pc_tab_mobile": {"zh": "流动郁心站", "en": "Mobile service points"},
    "pc_tab_central": {"zh": "党员中心户", "en": "Party-member households"},
    "pc_tab_sanwu": {"zh": "三无 → 三有", "en": "Three-none → three-have"},
    "pc_staff_source": {"zh": "名单：{name}", "en": "Staff list: {name}"},
    "pc_staff_none": {"zh": "尚未载入网格员名单。请上传（CSV 或 Excel：姓名、电话、职务、网格或社区）。",
                      "en": "No staff list yet. Upload one (CSV or Excel: name, phone, role, grid or community)."},
    "pc_staff_upload": {"zh": "网格员名单（CSV/Excel）", "en": "Staff list (CSV/Excel)"},
    "pc_staff_load": {"zh": "载入名单", "en": "Load the list"},
    "pc_staff_loaded": {"zh": "已载入 {name}：{n} 人", "en": "Loaded {name}: {n} persons"},
    "pc_staff_bad": {"zh": "名单 {name} 无法载入，问题见下表", "en": "The list {name} cannot be loaded; see the problems below"},
    "pc_max_grids": {"zh": "每人最多担任网格长的网格数", "en": "Grids one person may lead"},
    "pc_show_phones": {"zh": "显示完整电话", "en": "Show full phone numbers"},
    "pc_no_leader": {"zh": "无网格长的网格", "en": "Grids without a leader"},
    "pc_several_leaders": {"zh": "网格长多于一名", "en": "Grids with several leaders"},
    "pc_over_max": {"zh": "兼任超限的网格长", "en": "Leaders over the limit"},
    "pc_without_grid": {"zh": "未分配网格的人员", "en": "Staff without a grid"},
    "pc_person": {"zh": "人员", "en": "Person"},
    "pc_grid": {"zh": "网格", "en": "Grid"},
    "pc_role": {"zh": "职务", "en": "Role"},
    "pc_role_leader": {"zh": "网格长", "en": "grid leader"},
    "pc_role_full_time": {"zh": "专职网格员", "en": "full-time grid worker"},
    "pc_role_part_time": {"zh": "兼职网格员", "en": "part-time grid worker"},
    "pc_no_grid": {"zh": "未分配网格", "en": "no grid"},
    "pc_from": {"zh": "现任网格", "en": "Current grid"},
    "pc_assign": {"zh": "分配到网格", "en": "Assign to the grid"},
    "pc_reassign": {"zh": "改派到所选网格", "en": "Move to the chosen grid"},
    "pc_unassign": {"zh": "移出现任网格", "en": "Remove from the current grid"},
    "pc_assigned": {"zh": "已将 {name} 分配到网格 {grid}", "en": "{name} now serves grid {grid}"},
    "pc_reassigned": {"zh": "已将 {name} 从网格 {old} 改派到 {grid}", "en": "{name} moved from grid {old} to {grid}"},
    "pc_unassigned": {"zh": "已将 {name} 移出网格 {grid}", "en": "{name} removed from grid {grid}"},
    "pc_grid_staff": {"zh": "各网格的网格长和网格员", "en": "Leader and workers of each grid"},
    "pc_checks": {"zh": "检查结果", "en": "Checks"},
    "pc_check": {"zh": "问题", "en": "Problem"},
    "pc_message": {"zh": "说明", "en": "Description"},
    "pc_previous_grid": {"zh": "原网格", "en": "Former grid"},
    "pc_reason": {"zh": "原因", "en": "Reason"},
    "pc_reason_grid_gone": {"zh": "原网格已不存在", "en": "the grid no longer exists"},
    "pc_reason_community_only": {"zh": "尚未分配网格", "en": "not assigned to a grid"},
    "pc_within_m": {"zh": "网格外郁心站也算数的户均步行距离（米，0 为只算网格内）",
                    "en": "A service point outside a grid counts within this mean walk (m; 0: only inside)"},
    "pc_gs_missing": {"zh": "没有郁心站的网格", "en": "Grids without a service point"},
    "pc_gs_covered": {"zh": "郁心站{m}分钟覆盖户数", "en": "Households within {m} min of a service point"},
    "pc_gs_stations": {"zh": "郁心站数", "en": "Grid service points"},
    "pc_gs_grid": {"zh": "建议站址（按网格）", "en": "Suggested site (by grid)"},
    "pc_gs_option": {"zh": "网格 {grid} · 户均步行 {m} 米", "en": "Grid {grid} · mean walk {m} m"},
    "pc_gs_adopt": {"zh": "采纳为郁心站", "en": "Adopt as a service point"},
    "pc_gs_adopt_all": {"zh": "全部采纳（{n} 处）", "en": "Adopt all ({n})"},
    "pc_gs_adopted": {"zh": "已采纳 {n} 处郁心站站址：{grids}", "en": "Adopted {n} service point site(s): {grids}"},
    "pc_gs_all": {"zh": "每个网格都有郁心站。", "en": "Every grid has a service point."},
    "pc_weekday": {"zh": "星期", "en": "Weekday"},
    "pc_show_reach": {"zh": "在地图上标出当天覆盖的楼栋", "en": "Outline the buildings reached that day"},
    "pc_mob_open": {"zh": "{day}出勤站点", "en": "Stops open on {day}"},
    "pc_mob_reached": {"zh": "{day}{m}分钟覆盖户数", "en": "Households within {m} min on {day}"},
    "pc_mob_any": {"zh": "一周内覆盖户数", "en": "Households reached in the week"},
    "pc_mob_stations": {"zh": "出勤站点", "en": "Stops open"},
    "pc_mob_grids": {"zh": "当天覆盖的网格", "en": "Grids reached that day"},
    "pc_per": {"zh": "每个党员中心户联系的户数", "en": "Households per party-member household"},
    "pc_grids_short": {"zh": "党员不足的网格", "en": "Grids short of party members"},
    "pc_buildings_short": {"zh": "党员不足的楼栋", "en": "Buildings short of party members"},
    "pc_shortfall": {"zh": "楼栋缺口合计", "en": "Shortfall over buildings"},
    "pc_central_grids": {"zh": "各网格党员中心户需设数与党员数", "en": "Needed against party members, per grid"},
    "pc_central_short": {"zh": "需求无法满足的楼栋", "en": "Buildings where the need cannot be met"},
    "pc_sanwu_none": {"zh": "数据集没有小区状态记录（compound_status），无法统计三无小区进展。",
                      "en": "The dataset has no compound status history (compound_status)."},
    "pc_since": {"zh": "起始日期", "en": "Since"},
    "pc_sanwu_since": {"zh": "{since} 时的三无小区", "en": "Three-none compounds on {since}"},
    "pc_sanwu_became": {"zh": "已成为三有", "en": "Now three-have"},
    "pc_sanwu_remain": {"zh": "仍为三无", "en": "Still three-none"},
    "pc_sanwu_red": {"zh": "其中红色物业", "en": "Of them with red property companies"},
    "pc_month": {"zh": "月份", "en": "Month"},
    "pc_sanwu_remaining": {"zh": "仍为三无的小区", "en": "Compounds still three-none"},
    "pc_sanwu_red_list": {"zh": "由红色物业服务的小区", "en": "Compounds served by red property companies"},
    "pc_max_walk": {"zh": "最远步行 m", "en": "Longest walk m"},
    "pc_centre_excess": {"zh": "直线中心多走 %", "en": "Straight-line centre walks more %"},
    "pc_status_now": {"zh": "现状", "en": "Now"},
    # --- sign-in, roles, scopes, conflicts and the audit trail (issue 12)
    "auth_title": {"zh": "登录", "en": "Sign in"},
    "auth_intro": {"zh": "本方案库已配置用户，请登录后使用。", "en": "This plan store has users: sign in to continue."},
    "auth_user": {"zh": "用户名", "en": "User name"},
    "auth_password": {"zh": "密码", "en": "Password"},
    "auth_submit": {"zh": "登录", "en": "Sign in"},
    "auth_wrong": {"zh": "用户名或密码不正确。", "en": "Wrong user name or password."},
    "auth_sign_out": {"zh": "退出登录", "en": "Sign out"},
    "auth_signed_out": {"zh": "已退出登录。", "en": "Signed out."},
    "auth_single_user": {"zh": "单用户模式：未配置用户", "en": "Single-user mode: no users configured"},
    "auth_refuse": {"zh": "本服务对网络开放，但方案库还没有用户，因此拒绝运行。请先添加一名管理员：`{cmd}`（密码在提示时输入），然后刷新本页。",
                    "en": "This server is reachable from the network but its plan store has no users, so it refuses to run. "
                          "Add an admin first: `{cmd}` (the password is asked for), then reload this page."},
    "role_admin": {"zh": "管理员", "en": "admin"},
    "role_planner": {"zh": "规划员", "en": "planner"},
    "role_viewer": {"zh": "只读用户", "en": "viewer"},
    "auth_scope": {"zh": "负责范围：{codes}", "en": "Scope: {codes}"},
    "auth_read_only": {"zh": "只读：您的账号不能修改或保存方案。", "en": "Read-only: your account cannot edit or save plans."},
    "auth_view_only_here": {"zh": "此社区不在您的负责范围内，只能查看；修改会被拒绝。",
                            "en": "This community is outside your scope: view only; edits are refused."},
    "auth_out_of_scope": {"zh": "超出负责范围：此操作会改动 {communities}，未执行。",
                          "en": "Outside your scope: this would change {communities}; not done."},
    "auth_viewer_exports": {"zh": "只读用户只能导出不含楼栋户数、人口的文件（挂图、楼栋网格对照表）。",
                            "en": "Viewers may export only files without per-building counts (poster, building → grid table)."},
    "page_admin": {"zh": "用户管理", "en": "Users"},
    "auth_admin_only": {"zh": "只有管理员可以管理用户。", "en": "Only admins manage users."},
    "auth_display": {"zh": "显示名", "en": "Display name"},
    "auth_role": {"zh": "角色", "en": "Role"},
    "auth_scope_label": {"zh": "负责范围（社区或街道）", "en": "Scope (communities or streets)"},
    "auth_created": {"zh": "创建时间", "en": "Created"},
    "auth_disabled": {"zh": "已停用", "en": "Disabled"},
    "auth_street": {"zh": "街道", "en": "Street"},
    "auth_add_user": {"zh": "添加用户", "en": "Add user"},
    "auth_change_user": {"zh": "修改用户", "en": "Change a user"},
    "auth_apply": {"zh": "应用", "en": "Apply"},
    "auth_new_password": {"zh": "新密码（至少 8 位）", "en": "New password (8 characters or more)"},
    "auth_reset_password": {"zh": "重置密码", "en": "Reset password"},
    "auth_user_added": {"zh": "已添加用户 {user}（{role}）", "en": "Added user {user} ({role})"},
    "auth_user_changed": {"zh": "已修改用户 {user}（{role}）", "en": "Changed user {user} ({role})"},
    "auth_password_reset": {"zh": "已重置 {user} 的密码", "en": "Password of {user} reset"},
    "auth_not_yourself": {"zh": "不能取消自己的管理员角色或停用自己。", "en": "You cannot demote or disable yourself."},
    "conflict_title": {"zh": "保存冲突：其他人已修改了相同的社区", "en": "Save conflict: someone changed the same communities"},
    "conflict_line": {"zh": "版本 {vid}「{name}」，用户 {user}，{when}，修改了：{communities}",
                      "en": "Version {vid} \"{name}\" by {user} at {when} changed: {communities}"},
    "conflict_reload": {"zh": "载入对方版本", "en": "Load their version"},
    "conflict_reload_warn": {"zh": "载入最新版本后，您未保存的修改将被放弃。确定吗？",
                             "en": "Loading the newest version drops your unsaved edits. Sure?"},
    "conflict_reload_confirm": {"zh": "确定载入，放弃我的修改", "en": "Load it and drop my edits"},
    "conflict_branch": {"zh": "另存为分支版本", "en": "Save as a branch version"},
    "conflict_branch_help": {"zh": "以最新版本为基础，只保留您改动的社区，另存为新版本。",
                             "en": "Keeps only the communities you changed, on top of the newest version, as a new version."},
    "conflict_branch_name": {"zh": "分支版本", "en": "branch"},
    "conflict_reloaded": {"zh": "已载入最新版本 {vid}", "en": "Loaded the newest version {vid}"},
    "conflict_branched": {"zh": "已另存为分支版本 {vid}：{name}（基于版本 {base}）",
                          "en": "Saved branch version {vid}: {name} (based on version {base})"},
    "cancel": {"zh": "取消", "en": "Cancel"},
    "audit_title": {"zh": "留痕：每个版本改动的网格", "en": "Audit trail: grids each version changed"},
    "audit_version": {"zh": "查看版本", "en": "Version"},
    "audit_none": {"zh": "此版本没有改动任何网格。", "en": "This version changed no grid."},
    "audit_download": {"zh": "下载留痕（Excel）", "en": "Download the audit trail (Excel)"},
    "saved_merged": {"zh": "版本 {vid} 同时包含其他人期间保存的其他社区的修改，已载入为当前方案。",
                     "en": "Version {vid} also holds other planners' changes to other communities, saved meanwhile; it is now the current plan."},
}


#: column headers of the tables the app shows (coverage tables, version lists, comparisons)
COLUMNS: dict[str, dict[str, str]] = {
    "community_id": {"zh": "社区编码", "en": "Community id"},
    "compound_id": {"zh": "小区编码", "en": "Compound id"},
    "station_id": {"zh": "站点编码", "en": "Station id"},
    "building_id": {"zh": "楼栋编码", "en": "Building id"},
    "grid_id": {"zh": "网格编码", "en": "Grid"},
    "name": {"zh": "名称", "en": "Name"},
    "kind": {"zh": "类型", "en": "Kind"},
    "buildings": {"zh": "楼栋数", "en": "Buildings"},
    "covered_buildings": {"zh": "覆盖楼栋", "en": "Covered buildings"},
    "households": {"zh": "户数", "en": "Households"},
    "covered_households": {"zh": "覆盖户数", "en": "Covered households"},
    "uncovered_households": {"zh": "未覆盖户数", "en": "Uncovered households"},
    "persons": {"zh": "人口", "en": "Persons"},
    "covered_persons": {"zh": "覆盖人口", "en": "Covered persons"},
    "pct_households": {"zh": "户数覆盖率%", "en": "Households covered %"},
    "pct_persons": {"zh": "人口覆盖率%", "en": "Persons covered %"},
    "pct_covered": {"zh": "覆盖率%", "en": "Covered %"},
    "sanwu": {"zh": "三无小区", "en": "三无"},
    "rank": {"zh": "顺序", "en": "Rank"},
    "gain_households": {"zh": "新增覆盖户数", "en": "Households gained"},
    "cum_households": {"zh": "累计新增户数", "en": "Cumulative gain"},
    "from_grid": {"zh": "原网格", "en": "From grid"},
    "to_grid": {"zh": "新网格", "en": "To grid"},
    "buildings_a": {"zh": "A 楼栋数", "en": "Buildings in A"},
    "buildings_b": {"zh": "B 楼栋数", "en": "Buildings in B"},
    "moved_out": {"zh": "移出", "en": "Moved out"},
    "moved_in": {"zh": "移入", "en": "Moved in"},
    "status": {"zh": "状态", "en": "Status"},
    "note": {"zh": "备注", "en": "Note"},
    "created": {"zh": "保存时间", "en": "Saved"},
    "user": {"zh": "用户", "en": "User"},
    "base": {"zh": "基准版本", "en": "Base version"},
    "communities_changed": {"zh": "改动的社区", "en": "Communities changed"},
    "community": {"zh": "社区", "en": "Community"},
    "households_before": {"zh": "原户数", "en": "Households before"},
    "persons_before": {"zh": "原人口", "en": "Persons before"},
    "buildings_before": {"zh": "原楼栋数", "en": "Buildings before"},
    "households_after": {"zh": "现户数", "en": "Households after"},
    "persons_after": {"zh": "现人口", "en": "Persons after"},
    "buildings_after": {"zh": "现楼栋数", "en": "Buildings after"},
    "balance": {"zh": "户数偏差", "en": "Households vs. target"},
    "road": {"zh": "最近道路", "en": "Nearest road"},
    "compound": {"zh": "小区", "en": "Compound"},
    "lon": {"zh": "经度", "en": "Longitude"},
    "lat": {"zh": "纬度", "en": "Latitude"},
    "label": {"zh": "来源操作", "en": "From step"},
    "grids": {"zh": "网格数", "en": "Grids"},
    "dataset": {"zh": "数据集", "en": "Dataset"},
    "version_id": {"zh": "版本号", "en": "Version"},
    "walk_m": {"zh": "步行距离 m", "en": "Walk (m)"},
    "walk_min": {"zh": "步行时间 min", "en": "Walk (min)"},
    # grid staff
    "staff_name": {"zh": "姓名", "en": "Name"},
    "staff_role": {"zh": "职务", "en": "Role"},
    "staff_phone": {"zh": "电话", "en": "Phone"},
    "leader": {"zh": "网格长", "en": "Grid leader"},
    "leader_phone": {"zh": "网格长电话", "en": "Grid leader's phone"},
    "full_time": {"zh": "专职网格员", "en": "Full-time grid workers"},
    "part_time": {"zh": "兼职网格员", "en": "Part-time grid workers"},
    "staff": {"zh": "网格员人数", "en": "Staff"},
    # the party chain and 党员中心户
    "chain_street": {"zh": "街道党工委", "en": "Street working committee"},
    "chain_community": {"zh": "社区党组织", "en": "Community party organisation"},
    "chain_compound": {"zh": "小区党支部", "en": "Compound party branch"},
    "chain_building": {"zh": "楼栋党小组", "en": "Building party group"},
    "chain_level": {"zh": "层级", "en": "Level"},
    "chain_org": {"zh": "党组织", "en": "Party body"},
    "chain_parent": {"zh": "上级", "en": "Parent"},
    "chain_groups": {"zh": "楼栋党小组数", "en": "Building party groups"},
    "central_need": {"zh": "党员中心户需设数", "en": "Party-member households needed"},
    "central_designated": {"zh": "党员中心户已设数", "en": "Party-member households designated"},
    "central_shortfall": {"zh": "党员中心户缺口（按党员数）", "en": "Shortfall (against party members)"},
    "central_met": {"zh": "党员数能否满足", "en": "Enough party members"},
    "buildings_short": {"zh": "党员不足的楼栋数", "en": "Buildings short of party members"},
    # mobile stations
    "households_any": {"zh": "任一天覆盖户数", "en": "Households reached on some day"},
    "weekdays": {"zh": "服务日", "en": "Weekdays"},
    "windows": {"zh": "服务时段", "en": "Hours"},
    # 三无 → 三有
    "status_since": {"zh": "起始状态", "en": "Status then"},
    "status_now": {"zh": "当前状态", "en": "Status now"},
    "left_sanwu_on": {"zh": "脱离三无日期", "en": "Left three-none on"},
    "sanyou_on": {"zh": "达到三有日期", "en": "Three-have since"},
    "red_property": {"zh": "红色物业", "en": "Red property company"},
    "property_company": {"zh": "物业公司", "en": "Property company"},
    # grid stations
    "mean_walk_m": {"zh": "户均步行距离 m", "en": "Mean walk (m)"},
    "violation": {"zh": "问题类型", "en": "Problem"},
    "violation_text": {"zh": "说明", "en": "Description"},
    # household rosters (gridplan.roster)
    "file": {"zh": "文件", "en": "File"},
    "sheet": {"zh": "工作表", "en": "Sheet"},
    "row": {"zh": "行号", "en": "Row"},
    "building": {"zh": "楼栋", "en": "Building"},
    "building_no": {"zh": "楼栋号", "en": "Building no."},
    "unit": {"zh": "单元", "en": "Unit"},
    "room": {"zh": "户室", "en": "Room"},
    "person_name": {"zh": "姓名（脱敏）", "en": "Name (masked)"},
    "id_number": {"zh": "身份证号（脱敏）", "en": "ID number (masked)"},
    "id_check": {"zh": "身份证号校验", "en": "ID check"},
    "reason": {"zh": "原因", "en": "Reason"},
    "kept_row": {"zh": "保留的行", "en": "Row kept"},
    "count_source": {"zh": "户数来源", "en": "Count source"},
    "party_members": {"zh": "党员数", "en": "Party members"},
    "resident": {"zh": "常住", "en": "Residents"},
    "floating": {"zh": "流动", "en": "Floating"},
    "lodger": {"zh": "寄住", "en": "Lodgers"},
    "invalid_ids": {"zh": "身份证号校验未通过", "en": "Invalid ID numbers"},
    "source_before": {"zh": "原户数来源", "en": "Source before"},
}

#: layer names
LAYER_NAMES: dict[str, dict[str, str]] = {
    "communities": {"zh": "社区", "en": "communities"},
    "compounds": {"zh": "小区", "en": "compounds"},
    "buildings": {"zh": "楼栋", "en": "buildings"},
    "roads": {"zh": "道路", "en": "roads"},
    "stations": {"zh": "站点", "en": "stations"},
    "dataset": {"zh": "数据集", "en": "dataset"},
    "upload": {"zh": "上传文件", "en": "upload"},
}


def column(name: str, lang: str = DEFAULT_LANG) -> str:
    """A table header in ``lang`` (the field name itself when unknown)."""
    entry = COLUMNS.get(str(name))
    return entry.get(lang, entry["zh"]) if entry else str(name)


def layer_name(name: str, lang: str = DEFAULT_LANG) -> str:
    """A layer's name in ``lang`` (Chinese with the file name in brackets, e.g. ``楼栋 (buildings)``)."""
    entry = LAYER_NAMES.get(str(name))
    if entry is None:
        return str(name)
    if lang == "en":
        return entry["en"]
    return entry["zh"] if name in ("dataset", "upload") else f"{entry['zh']} ({name})"


def t(key: str, lang: str = DEFAULT_LANG, **fmt) -> str:
    """The string ``key`` in ``lang`` (Chinese when missing), formatted with ``fmt``."""
    entry = STRINGS.get(key)
    if entry is None:
        return key
    s = entry.get(lang) or entry.get(DEFAULT_LANG) or key
    return s.format(**fmt) if fmt else s


def reason(code: str, lang: str = DEFAULT_LANG) -> str:
    """The text of a :data:`gridplan.metrics.REASONS` code."""
    if not code:
        return ""
    return t(f"reason_{code}", lang) if f"reason_{code}" in STRINGS else str(code)


# --------------------------------------------------------------------------- plan labels
#: the labels the library gives plans (:mod:`gridplan.edit`, :mod:`gridplan.engine`, the model, the
#: store, the app's import) and their text in each language; group names are the fields
_PLAN_LABELS: list[tuple[str, dict[str, str]]] = [
    (r"move compound (?P<c>.+) → (?P<g>.+)", {"zh": "移动小区 {c} → {g}", "en": "move compound {c} → {g}"}),
    (r"move (?P<n>\d+) building\(s\) to (?P<g>.+)", {"zh": "将 {n} 栋楼移到 {g}", "en": "move {n} building(s) to {g}"}),
    (r"move (?P<ids>.+) → (?P<g>.+)", {"zh": "移动楼栋 {ids} → {g}", "en": "move {ids} → {g}"}),
    (r"merge (?P<a>.+) into (?P<b>.+)", {"zh": "将网格 {a} 并入 {b}", "en": "merge {a} into {b}"}),
    (r"split (?P<g>.+) into (?P<n>\d+)", {"zh": "将网格 {g} 拆分为 {n} 个", "en": "split {g} into {n}"}),
    (r"re-optimise (?P<c>.+) \(nothing to change\)", {"zh": "重新优化社区 {c}（无需改动）",
                                                      "en": "re-optimise {c} (nothing to change)"}),
    (r"re-optimise (?P<c>.+)", {"zh": "重新优化社区 {c}", "en": "re-optimise {c}"}),
    (r"partition \(seed (?P<s>-?\d+)\)", {"zh": "网格划分（随机种子 {s}）", "en": "partition (seed {s})"}),
    (r"unlock (?P<g>.*)", {"zh": "解锁 {g}", "en": "unlock {g}"}),
    (r"lock (?P<g>.*)", {"zh": "锁定 {g}", "en": "lock {g}"}),
    (r"change rule", {"zh": "修改规模规则", "en": "change rule"}),
    (r"renumber", {"zh": "重新编号", "en": "renumber"}),
    (r"version (?P<v>\d+): (?P<name>.*)", {"zh": "版本 {v}：{name}", "en": "version {v}: {name}"}),
    (r"import (?P<f>.+)", {"zh": "导入 {f}", "en": "import {f}"}),
    (r"loaded from (?P<f>.+)", {"zh": "读取自 {f}", "en": "loaded from {f}"}),
    (r"branch of version (?P<v>\d+)", {"zh": "基于版本 {v} 的分支", "en": "branch of version {v}"}),
]


def plan_label(label: str, lang: str = DEFAULT_LANG) -> str:
    """A plan's label (the step that made it, e.g. ``move B001541 → 51068200100203``) in ``lang``.

    The library labels plans in a fixed English form; this renders them in the interface's
    language, ids and names untouched. Unknown labels come back as they are.

    >>> plan_label("partition (seed 0)")
    '网格划分（随机种子 0）'
    >>> plan_label("move B1, B2 → 51068200100203")
    '移动楼栋 B1, B2 → 51068200100203'
    """
    import re
    text = str(label or "")
    for pattern, out in _PLAN_LABELS:
        m = re.fullmatch(pattern, text)
        if m:
            return (out.get(lang) or out[DEFAULT_LANG]).format(**m.groupdict())
    return text


# --------------------------------------------------------------------------- validation fixes
#: how to fix each :class:`~gridplan.Problem` code, in Chinese (the library writes fixes in English;
#: ``{field}`` is the first `field` the English fix or message names, ``{layer}`` the layer)
FIXES_ZH: dict[str, str] = {
    "ambiguous_field": "删除或改名其中一列，或用“列名映射”指定要用的列",
    "bad_assume_crs": "填写 EPSG 代码，如 EPSG:4544",
    "bad_bool": "{field} 只能填 是/否、true/false 或 1/0",
    "bad_column_map": "列名映射须写成“原列名=字段”，字段用 {layer} 图层的标准字段名",
    "bad_coord_system": "坐标系选 GCJ-02（高德/腾讯）或 BD-09（百度）；WGS 84 数据留空",
    "bad_kind": "站点类型填 red_station（红色驿站）、grid_station（郁心站）、mobile（流动郁心站）或 service_center（党群服务中心）",
    "bad_metric_crs": "填写以米为单位的投影坐标系，如 EPSG:4544，或留空",
    "column_map_unused": "检查列名映射中的原列名是否与文件中的列名一致",
    "communities_derived": "补充带官方边界的社区图层（communities）",
    "community_mismatch": "核对楼栋或其小区的 community_id：网格按编码归属，边界按社区范围绘制",
    "crs_assumed": "如果数据不是 WGS 84 经纬度，请在文件中声明坐标系；表格坐标来自高德/腾讯或百度时载入时选 GCJ-02 / BD-09，"
                   "投影坐标 x/y 请指定坐标系（--assume-crs）",
    "dangling_ref": "改正 {field}，或在 {layer} 中补上该要素，或把 {field} 留空按位置自动匹配",
    "duplicate_id": "让 {field} 不重复（每个要素一个编号）；同一社区或小区分成几块时，在 GIS 中按编号融合（Dissolve）为一个"
                    "多部件要素；楼栋编号只在各小区内重复时它其实是楼栋号：把该列命名为楼栋号，另设唯一的 building_id",
    "empty_layer": "补充要素，或删除这个空图层",
    "fractional_count": "人数、户数须为整数，请取整 {field}",
    "geographic_as_projected": "改为声明 EPSG:4326（或 CGCS2000 经纬度 EPSG:4490）",
    "geometry_type": "{layer} 图层只保存规定类型的图形（面/线/点）",
    "households_estimated": "有实际户数的楼栋请填写 households（户数）",
    "ids_generated": "增加 {field} 编号列，使保存的方案始终对应相同的要素",
    "invalid_geometry": "在 GIS 中重绘该要素（如 QGIS“修复几何图形”）",
    "layers_apart": "按楼栋实际的坐标系声明（.prj 或 GeoPackage 坐标系），与其他图层一致",
    "missing_community": "填写 community_id，或补充社区图层",
    "missing_field": "补充该字段（如站点的 kind 类型：red_station 红色驿站、grid_station 郁心站……）",
    "missing_households": "填写 households（户数），或填写 floors（楼层）并提供楼栋轮廓，或填写 persons（人口）",
    "missing_layer": "补充楼栋图层（buildings.geojson / GeoPackage 图层 buildings / 楼栋）",
    "mixed_geometry": "点状楼栋按小面积处理；能画轮廓的尽量画轮廓",
    "negative_count": "数量不能为负，请改正 {field}",
    "no_communities": "补充社区图层（communities），使网格嵌套在社区内",
    "no_crs_projected": "声明坐标系（.prj 文件或 GeoPackage 中的坐标系），或载入时指定坐标系",
    "no_geometry": "为要素绘制图形（须为空间图层，不是普通表格）",
    "not_a_number": "把 {field} 写成整数（如 48）",
    "null_geometry": "为该要素绘制图形，或删除它",
    "null_id": "为每个要素填写不重复的 {field}",
    "offset_on_projected": "GCJ-02/BD-09 只用于经纬度数据；投影坐标数据不要选择该坐标系",
    "outside_communities": "把小区移到某个社区范围内，或修正社区图层",
    "persons_estimated": "有实际人口的楼栋请填写 persons（人口）",
    "projected_as_geographic": "声明数据真实的投影坐标系（如 CGCS2000 3° 带 105°E：EPSG:4544）",
    "ref_by_name": "在 {field} 中填写编码而不是名称",
    "repaired_geometry": "检查修复后的形状；在源文件中修正即可消除此提示",
    "swapped_axes": "把坐标顺序改为（经度，纬度），如 QGIS“交换 X 和 Y 坐标”",
    "unprojectable": "检查该图层的坐标和声明的坐标系",
    "bad_coordinates": "坐标写成十进制度（如 120.6234, 31.3012），或写成 WKT（POINT (120.6234 31.3012)）",
    "counts_swapped": "核对哪一列是户数、哪一列是人口；表头填反时用列名映射对调（人口=households、户数=persons）",
    "datum_ballpark": "在 GIS 中用当地转换参数（七参数）把该图层转换为 CGCS2000（EPSG:4490 或对应高斯-克吕格投影带）后再载入",
    "duplicate_geometry": "删除重复的楼栋之一，或把两者合并为一栋（户数、人口相加）",
    "duplicate_point": "核对这两栋楼是否是同一栋被录入两次；能画轮廓的尽量画轮廓",
    "no_count_column": "把户数列命名为“户数”（或 households），或用列名映射指定（如 HS=households）；人口列同理（人口 / persons）",
    "outside_crs_area": "按数据实际的坐标系声明（.prj 文件或 GeoPackage 中的坐标系）；注意高斯-克吕格投影带号：x 带带号"
                        "（如 40559000）与不带带号（559000）的坐标系不同；无坐标系的文件载入时指定坐标系",
    "overlapping_polygons": "在 GIS 中重画两者的公共边界，使其不重叠（如 QGIS 差异运算，或两者都捕捉到同一条线）",
    "ambiguous_layer": "把图层命名为 {layer}，或每个文件只放一个图层",
    "duplicate_layer": "每个图层只保留一个文件",
    "encoding_assumed": "把文件另存为 UTF-8 编码（或在 .cpg 中写明实际编码）",
    "file_too_big": "拆分数据（如按街道分批），或调高文件大小上限（GRIDPLAN_MAX_FILE_MB）",
    "internal": "请把文件和此信息反馈给开发者；可先在 GIS 中另存为 GeoPackage 再试",
    "missing_sidecar": "把 Shapefile 的 .shx/.dbf 等配套文件放在一起（或打包成 .zip），或另存为 GeoPackage",
    "no_layers": "放入 buildings.geojson（或 .gpkg/.shp/.fgb）等图层文件",
    "no_such_path": "填写图层文件所在的文件夹或 GeoPackage（.gpkg）路径",
    "not_a_layer": "传入 geopandas GeoDataFrame",
    "unknown_layer": "图层文件命名为 communities、compounds、buildings、roads、stations（或 社区、小区、楼栋 等）",
    "unreadable": "检查文件是否完整：在 GIS 中打开后另存为 GeoJSON 或 GeoPackage 再试",
    "unsupported_format": "使用 .geojson/.gpkg/.shp/.fgb 图层文件、它们的 .zip 压缩包或一个 GeoPackage，或带经度/纬度"
                          "（或 WKT）列的表格（如 buildings.csv、楼栋.xlsx）；KML、MapInfo、FileGDB 请在 GIS 中另存为 GeoPackage",
}


def fix_text(problem: dict, lang: str = DEFAULT_LANG) -> str:
    """How to fix a validation problem (a :meth:`Problem.as_dict`) in ``lang``."""
    import re
    fix = str(problem.get("fix") or "")
    template = FIXES_ZH.get(str(problem.get("code") or "")) if lang == "zh" else None
    if template is None:
        return fix
    named = re.findall(r"`([^`]+)`", fix) or re.findall(r"`([^`]+)`", str(problem.get("message") or ""))
    return template.format(field=named[0] if named else "", layer=str(problem.get("layer") or ""))


def in_language(message: str, lang: str = DEFAULT_LANG) -> str:
    """The part of a bilingual library message (``中文 / English``) in ``lang``; other text as is."""
    text = str(message)
    if " / " not in text:
        return text
    head, tail = text.split(" / ", 1)
    # the Chinese half is the one with clearly more Chinese characters (user text quoted in both
    # halves may hold a few)
    cjk = [sum("\u4e00" <= ch <= "\u9fff" for ch in part) for part in (head, tail)]
    if cjk[0] > 2 * cjk[1] + 2:
        return head if lang == "zh" else tail
    if cjk[1] > 2 * cjk[0] + 2:
        return tail if lang == "zh" else head
    return text


def local_time(iso: str | None, tz: str | None = None) -> str:
    """An ISO 8601 time (as the store writes it, UTC) as ``YYYY-MM-DD HH:MM`` in the local time zone:
    ``tz`` (an IANA name such as ``Asia/Shanghai``), else the machine's."""
    import datetime as _dt
    if not iso:
        return ""
    try:
        t = _dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    zone = None
    if tz:
        try:
            from zoneinfo import ZoneInfo
            zone = ZoneInfo(tz)
        except (KeyError, ValueError, OSError):
            zone = None
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M")
